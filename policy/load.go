package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds what Load reads: policies are small, and a bound keeps a hostile
// file from costing more than a bounded parse.
const maxFileSize = 1 << 20

// Load decodes one component policy from fsys. Every decoding error in the file is
// reported, as an ErrorList. Profiles are not merged and nothing is validated yet.
func Load(fsys fs.FS, name string) (*Component, error) {
	root, src, err := parseFile(fsys, name)
	if err != nil {
		return nil, fileError(name, err)
	}
	c := &Component{File: name, Source: src}
	c.pos, err = decodeInto(root, name, c)
	c.resolveSources(fsys, name)
	c.recordOrigins(name)
	return c, err
}

// recordOrigins notes where each path and syscall deny is declared, file shown as given.
// A deny is keyed by its name as written and its argument conditions (denyKey), so two
// rules for one syscall (ioctl TIOCSTI, ioctl TIOCLINUX) keep their own positions.
func (c *Component) recordOrigins(file string) {
	c.origins = map[string]string{}
	note := func(key, path string, i int, value string) {
		p := fmt.Sprintf("%s[%d]", path, i)
		pos := c.pos.at(p)
		pos.File = file
		c.origins[key] = fmt.Sprintf("%s %s %s", pos, p, value)
	}
	for _, l := range []struct {
		path  string
		items []string
	}{{"filesystem.read", c.Filesystem.Read}, {"filesystem.write", c.Filesystem.Write}, {"filesystem.tmpfs", c.Filesystem.Tmpfs}} {
		for i, v := range l.items {
			note(l.path+" "+v, l.path, i, v)
		}
	}
	for i, b := range c.Filesystem.Bind {
		note("filesystem.bind "+b.Target, "filesystem.bind", i, b.Target)
	}
	for i, r := range c.Syscalls.Deny {
		conds := argConds(r.Args)
		for _, name := range r.Names {
			note("syscalls.deny "+denyKey(name, conds), "syscalls.deny", i, name)
		}
	}
}

// denyKey is a syscalls.deny origin's value: the name as written and the conditions.
func denyKey(name string, conds alt) string { return name + "/" + altKey(conds) }

// origin is the declaration recorded for kind and value, or "".
func (c *Component) origin(kind, value string) string { return c.origins[kind+" "+value] }

// LoadStack decodes a stack file and the component files it names, which resolve
// relative to the stack file's directory.
func LoadStack(fsys fs.FS, name string) (*Stack, error) {
	root, _, err := parseFile(fsys, name)
	if err != nil {
		return nil, fileError(name, err)
	}
	s := &Stack{File: name}
	var errs ErrorList
	s.pos, err = decodeInto(root, name, s)
	errs = appendErr(errs, err)
	for i, rel := range s.Components {
		file := rel
		if !path.IsAbs(rel) {
			file = path.Join(path.Dir(name), rel)
		}
		if _, err := fs.Stat(fsys, file); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			p := "components[" + strconv.Itoa(i) + "]"
			errs.Add(s.pos.at(p), p, "cannot read component %q: %v", rel, err)
			continue
		}
		c, err := Load(fsys, file)
		errs = appendErr(errs, err)
		if c != nil {
			s.Members = append(s.Members, c)
		}
	}
	return s, errs.Err()
}

// Open loads FILE as a stack when it has a components key, and otherwise as a single
// component, returned as a stack of one named after it.
func Open(fsys fs.FS, name string) (*Stack, error) {
	root, _, err := parseFile(fsys, name)
	if err != nil {
		return nil, fileError(name, err)
	}
	if isStack(root) {
		return LoadStack(fsys, name)
	}
	c, err := Load(fsys, name)
	if c == nil {
		return nil, err
	}
	return &Stack{Version: c.Version, Name: c.Name, File: name, Members: []*Component{c}, pos: c.pos}, err
}

// IsSingle reports whether the stack is one component opened on its own.
func (s *Stack) IsSingle() bool { return len(s.Components) == 0 && len(s.Members) == 1 }

func isStack(root *yaml.Node) bool {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "components" {
			return true
		}
	}
	return false
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseFile reads and parses one YAML document, returning its root and the SHA-256 of its bytes.
func parseFile(fsys fs.FS, name string) (*yaml.Node, string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, "", err
	}
	var errs ErrorList
	if len(data) > maxFileSize {
		errs.Add(Pos{File: name, Line: 1, Col: 1}, "", "file is larger than %d bytes", maxFileSize)
		return nil, "", errs
	}
	sum := sha256.Sum256(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			err = errors.New("empty file; expected a policy mapping")
		}
		errs.Add(yamlErrorPos(name, err), "", "%s", yamlMessage(err))
		return nil, "", errs
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		errs.Add(yamlErrorPos(name, err), "", "%s", yamlMessage(err))
		return nil, "", errs
	default:
		errs.Add(Pos{File: name, Line: max(extra.Line, 1), Col: max(extra.Column, 1)}, "", "expected one YAML document, found more")
		return nil, "", errs
	}
	return &root, hex.EncodeToString(sum[:]), nil
}

// yamlErrorPos finds the line in a yaml.v3 syntax error; yaml.v3 gives no column.
func yamlErrorPos(name string, err error) Pos {
	line := 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return Pos{File: name, Line: max(line, 1), Col: 1}
}

// yamlMessage strips yaml.v3's "yaml: line N:" prefix, since the position says it.
func yamlMessage(err error) string {
	msg := err.Error()
	return regexp.MustCompile(`^yaml: (line \d+: )?`).ReplaceAllString(msg, "")
}

func decodeInto(root *yaml.Node, name string, v any) (positions, error) {
	d := &decoder{file: name, pos: positions{}}
	d.pos[""] = Pos{File: name, Line: 1, Col: 1}
	d.decode(root, reflect.ValueOf(v).Elem(), "")
	return d.pos, d.errs.Err()
}

// fileError turns a failure to read name into a policy error naming the file.
func fileError(name string, err error) error {
	var el ErrorList
	if errors.As(err, &el) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	el.Add(Pos{File: name}, "", "cannot read the file: %v", err)
	return el
}

func appendErr(l ErrorList, err error) ErrorList {
	var el ErrorList
	switch {
	case err == nil:
	case errors.As(err, &el):
		l = append(l, el...)
	default:
		l.Add(Pos{}, "", "%v", err)
	}
	return l
}
