//go:build cgo && linux

package stage

// #include <stdlib.h>
// #include "stage_user.h"
import "C"

import (
	"syscall"
	"unsafe"
)

// LookupIDs runs the stage's reader of the sandbox's /etc/passwd (nfields 4) or
// /etc/group (3), stage_idfile.c, in this process on path: the ids of each name it
// found (passwd: uid, gid; group: gid), or how the file failed to read (kind, as
// stage_user.h's ID_*, and errno). For the tests that hold it to the Go init's reader.
func LookupIDs(path string, nfields int, names []string) (ids map[string][2]uint32, kind int, errno syscall.Errno) {
	q := unsafe.Slice((*C.struct_id_query)(C.calloc(C.size_t(len(names)+1), C.sizeof_struct_id_query)), len(names)+1)
	defer C.free(unsafe.Pointer(&q[0]))
	for i, n := range names {
		q[i].name = C.CString(n)
		q[i].len = C.size_t(len(n))
		defer C.free(unsafe.Pointer(q[i].name))
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr C.int
	r := C.id_file_scan(cpath, C.unsigned(nfields), &q[0], C.unsigned(len(names)), &cerr)
	if r != C.ID_OK {
		return nil, int(r), syscall.Errno(cerr)
	}
	ids = map[string][2]uint32{}
	for i, n := range names {
		if q[i].found != 0 {
			ids[n] = [2]uint32{uint32(q[i].id[0]), uint32(q[i].id[1])}
		}
	}
	return ids, 0, 0
}
