//go:build !confine_slim

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/image"
	"github.com/confine-sandbox/confine/policy/plan"
)

// idRange is the ids an OCI bundle maps from its host id (export.Options.HostID).
const idRange = 65536

// rootfsFiller flattens images from the store into bundle rootfs directories.
type rootfsFiller struct {
	store  *image.Store
	hostID uint32
}

// storeImage opens the Plan's image and checks it is what was compiled.
func (r *rootfsFiller) storeImage(p *plan.Image) (*image.Image, error) {
	if r.store == nil {
		s, err := openStore()
		if err != nil {
			return nil, err
		}
		r.store = s
	}
	img, err := r.store.ImageByDigest(p.Digest)
	if err != nil {
		return nil, fmt.Errorf("the Plan's image %s (%s) is not in the store; confine pull %s: %w", p.Ref, p.Digest, p.Ref, err)
	}
	var ids []string
	for _, d := range img.DiffIDs {
		ids = append(ids, d.String())
	}
	if img.ConfigDigest.String() != p.ConfigDigest || !slices.Equal(ids, p.DiffIDs) {
		return nil, fmt.Errorf("image %s in the store differs from the Plan's (config or layers): compile again", p.Digest)
	}
	return img, nil
}

// fill empties rel under root and applies the image's layers into it, bottom first, as
// overlayfs would show them. Only dst is written, through os.Root, and no symlink of
// either side is followed: a layer is untrusted even in the store.
func (r *rootfsFiller) fill(root *os.Root, rel string, p *plan.Image) error {
	img, err := r.storeImage(p)
	if err != nil {
		return err
	}
	if err := root.RemoveAll(rel); err != nil {
		return err
	}
	if err := root.Mkdir(rel, 0o755); err != nil {
		return err
	}
	dst, err := root.OpenRoot(rel)
	if err != nil {
		return err
	}
	defer dst.Close()
	for i, dir := range img.LayerDirs {
		if err := r.applyLayer(dst, dir, img.Layers[i].Xattr); err != nil {
			root.RemoveAll(rel) // no half-flattened rootfs left to run
			return fmt.Errorf("image %s, layer %s: %w", p.Ref, img.DiffIDs[i], err)
		}
	}
	return nil
}

func (r *rootfsFiller) applyLayer(dst *os.Root, dir, xattr string) error {
	src, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer src.Close()
	return fs.WalkDir(src.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return err
		}
		if err := r.entry(src, dst, name, xattr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// entry applies one path of a layer. Its parent in dst is a real directory: WalkDir
// visits the layer's directories first, and entry replaces whatever was there by one.
func (r *rootfsFiller) entry(src, dst *os.Root, name, xattr string) error {
	fi, err := src.Lstat(name)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("no stat")
	}
	uid, gid := r.shift(st.Uid), r.shift(st.Gid)
	switch mode := fi.Mode(); {
	case mode&fs.ModeCharDevice != 0 && st.Rdev == 0: // a whiteout: the lower layers' path goes
		return removeIn(dst, name)
	case mode.IsDir():
		return r.dir(src, dst, name, xattr, fi, uid, gid)
	case mode.IsRegular():
		if err := removeIn(dst, name); err != nil {
			return err
		}
		return copyFile(src, dst, name, fi, uid, gid)
	case mode&fs.ModeSymlink != 0:
		target, err := src.Readlink(name)
		if err != nil {
			return err
		}
		if err := removeIn(dst, name); err != nil {
			return err
		}
		if err := dst.Symlink(target, name); err != nil {
			return err
		}
		return dst.Lchown(name, uid, gid)
	default:
		fmt.Fprintf(os.Stderr, "confine: export: %s: a %s, not copied into the bundle\n", name, mode.Type())
		return nil
	}
}

func (r *rootfsFiller) dir(src, dst *os.Root, name, xattr string, fi fs.FileInfo, uid, gid int) error {
	cur, err := dst.Lstat(name)
	if err == nil && (!cur.IsDir() || opaqueDir(src, name, xattr)) {
		if err := dst.RemoveAll(name); err != nil {
			return err
		}
		err = os.ErrNotExist
	}
	if errors.Is(err, os.ErrNotExist) {
		err = dst.Mkdir(name, 0o700)
	}
	if err != nil {
		return err
	}
	if err := dst.Lchown(name, uid, gid); err != nil {
		return err
	}
	return dst.Chmod(name, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

// opaqueDir reports an overlayfs opaque directory: it hides what lower layers put there.
func opaqueDir(src *os.Root, name, xattr string) bool {
	f, err := src.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, pre := range []string{xattr, "trusted", "user"} {
		buf := make([]byte, 2)
		n, err := unix.Fgetxattr(int(f.Fd()), pre+".overlay.opaque", buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// copyFile copies a regular file; a hard link of the layer becomes a copy.
func copyFile(src, dst *os.Root, name string, fi fs.FileInfo, uid, gid int) error {
	in, err := src.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	if got, err := in.Stat(); err != nil || !got.Mode().IsRegular() {
		return fmt.Errorf("changed while copying (%v)", err)
	}
	out, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chown(uid, gid) // before Chmod: chown clears set-id bits
	}
	if err == nil {
		err = out.Chmod(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = dst.Chtimes(name, fi.ModTime(), fi.ModTime())
	}
	return err
}

// removeIn removes name and what is under it; a missing one is no error.
func removeIn(dst *os.Root, name string) error {
	if _, err := dst.Lstat(path.Dir(name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := dst.RemoveAll(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// shift maps a container id onto the bundle's host range, as the user namespace sees it
// back; an id beyond the range is the overflow id (65534) as the kernel shows it.
func (r *rootfsFiller) shift(id uint32) int {
	if id >= idRange {
		id = 65534
	}
	return int(r.hostID + id)
}
