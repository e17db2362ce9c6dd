package policy

import "github.com/confine-sandbox/confine/policy/tree"

// Tree is the fs.FS to load an untrusted policy or stack from disk through (tree.Tree):
// every name beneath the directory of the file the user named, regular files only.
type Tree = tree.Tree

var (
	// ErrOutsideTree is a policy naming a file outside the directory of the file the
	// user named: an absolute path, a ".." that climbs out, or a symlink that leaves it.
	ErrOutsideTree = tree.ErrOutsideTree
	// ErrNotRegular is a policy path naming a FIFO, device, socket or directory.
	ErrNotRegular = tree.ErrNotRegular
)

// OpenTree opens the directory of file for loading file and what it names. Close it.
func OpenTree(file string) (*Tree, error) { return tree.Open(file) }
