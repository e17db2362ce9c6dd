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
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/confine-sandbox/confine/policy/tree"
)

// Load decodes one component policy from fsys. Every decoding error in the file is
// reported, as an ErrorList. Profiles are not merged and nothing is validated yet.
func Load(fsys fs.FS, name string) (*Component, error) {
	data, err := readFile(fsys, name)
	if err != nil {
		return nil, fileError(name, err)
	}
	root, src, err := parseBytes(name, data)
	if err != nil {
		return nil, err
	}
	return decodeComponent(fsys, name, root, src)
}

func decodeComponent(fsys fs.FS, name string, root *yaml.Node, src string) (*Component, error) {
	c := &Component{File: name, Source: src}
	var err error
	c.pos, err = decodeInto(root, name, c)
	c.parseValues()
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

// LoadStack decodes a stack file and the component files it names. A component file
// resolves relative to the stack file's directory and must lie inside it: an absolute
// path or one that climbs out with ".." is refused at its components[i] entry, and so is
// any file fsys refuses to open (Tree refuses symlinks that leave the directory).
func LoadStack(fsys fs.FS, name string) (*Stack, error) {
	data, err := readFile(fsys, name)
	if err != nil {
		return nil, fileError(name, err)
	}
	root, _, err := parseBytes(name, data)
	if err != nil {
		return nil, err
	}
	return loadStack(fsys, name, root, len(data))
}

func loadStack(fsys fs.FS, name string, root *yaml.Node, size int) (*Stack, error) {
	s := &Stack{File: name}
	var errs ErrorList
	var err error
	s.pos, err = decodeInto(root, name, s)
	s.parseValues()
	errs = appendErr(errs, err)
	refused := map[string]bool{}
	for _, e := range errs {
		refused[e.Path] = true
	}
	for i, rel := range s.Components {
		p := "components[" + strconv.Itoa(i) + "]"
		if refused[p] {
			continue // the entry did not decode; its error says why
		}
		if msg := checkMember(rel); msg != "" {
			errs.Add(s.pos.at(p), p, "%s", msg)
			continue
		}
		file := path.Join(path.Dir(name), rel)
		data, err := readFile(fsys, file)
		if err == nil && size+len(data) > maxStackSize {
			err = fmt.Errorf("the stack's files together hold more than %d bytes (%d MiB), the limit for one stack", maxStackSize, maxStackSize>>20)
		}
		if err != nil {
			errs.Add(s.pos.at(p), p, "cannot read component %q: %v", rel, pathErr(err))
			continue
		}
		size += len(data)
		c, err := loadMember(fsys, file, data)
		errs = appendErr(errs, err)
		if c != nil {
			s.Members = append(s.Members, c)
		}
	}
	return s, errs.Err()
}

func loadMember(fsys fs.FS, file string, data []byte) (*Component, error) {
	root, src, err := parseBytes(file, data)
	if err != nil {
		return nil, err
	}
	return decodeComponent(fsys, file, root, src)
}

// checkMember says why a stack's component entry may not name a file, or "".
func checkMember(rel string) string {
	clean := path.Clean(rel)
	switch {
	case rel == "":
		return "expected a component file name, found an empty string"
	case path.IsAbs(rel):
		return fmt.Sprintf("%q is an absolute path; a component file must lie in the stack file's directory or below it", rel)
	case clean == ".." || strings.HasPrefix(clean, "../"):
		return fmt.Sprintf("%q leaves the stack file's directory; a component file must lie in it or below it", rel)
	case slices.Contains(strings.Split(rel, "/"), ".."):
		// confine would clean "sub/../a.yaml" to a.yaml, while the kernel, and so a
		// reviewer's cat, resolves ".." after a symlinked sub: they would read two files.
		return fmt.Sprintf("%q holds \"..\"; name the component file without it (%q)", rel, clean)
	}
	return ""
}

// Open loads FILE as a stack when it has a components key, and otherwise as a single
// component, returned as a stack of one named after it. The file is read and parsed once.
func Open(fsys fs.FS, name string) (*Stack, error) {
	data, err := readFile(fsys, name)
	if err != nil {
		return nil, fileError(name, err)
	}
	root, src, err := parseBytes(name, data)
	if err != nil {
		return nil, err
	}
	if isStack(root) {
		return loadStack(fsys, name, root, len(data))
	}
	c, err := decodeComponent(fsys, name, root, src)
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

// readFile reads one policy file: a regular file of at most maxFileSize bytes. A FIFO,
// device, socket or directory is refused from its mode, before any read (Tree opens with
// O_NONBLOCK, so even opening a FIFO does not wait for a writer).
func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, tree.NotRegular(fi.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("the file is larger than %d bytes (%d MiB), the limit for one file", maxFileSize, maxFileSize>>20)
	}
	return data, nil
}

// parseBytes parses one YAML document under the limits, returning its root and the
// SHA-256 of its bytes. Invisible characters are refused anywhere in the file, comments
// included, at their line and column: a reviewer reads the file as well as confine.
func parseBytes(name string, data []byte) (*yaml.Node, string, error) {
	var errs ErrorList
	if pos, msg := scanText(data); msg != "" {
		pos.File = name
		errs.Add(pos, "", "%s", msg)
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
	if err := checkLimits(name, &root); err != nil {
		return nil, "", err
	}
	return &root, hex.EncodeToString(sum[:]), nil
}

// scanText finds the first refused rune in a file's text (tabs and line ends aside, and
// a leading byte-order mark) and says where it is.
func scanText(data []byte) (Pos, string) {
	line, col := 1, 0
	for off, r := range string(data) {
		col++
		switch {
		case r == '\n':
			line, col = line+1, 0
			continue
		case r == '\r', r == '\t', r == '\uFEFF' && off == 0:
			continue
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRune(data[off:]); size == 1 {
				return Pos{Line: line, Col: col}, "the file is not valid UTF-8"
			}
		}
		if class := refusedRune(r, false); class != "" {
			return Pos{Line: line, Col: col}, fmt.Sprintf("the file contains %s (%U); policy files hold visible text only", class, r)
		}
	}
	return Pos{}, ""
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+)`) })

// yamlErrorPos finds the line in a yaml.v3 syntax error; yaml.v3 gives no column.
func yamlErrorPos(name string, err error) Pos {
	line := 1
	if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return Pos{File: name, Line: max(line, 1), Col: 1}
}

var yamlPrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: (line \d+: )?`) })

// yamlMessage strips yaml.v3's "yaml: line N:" prefix, since the position says it. What
// yaml.v3 quotes of the file (an anchor name) is bounded as every message is, by Add.
func yamlMessage(err error) string {
	return yamlPrefix().ReplaceAllString(err.Error(), "")
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
	el.Add(Pos{File: name}, "", "cannot read the file: %v", pathErr(err))
	return el
}

// pathErr drops an fs.PathError's operation and path: the position names the file.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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
