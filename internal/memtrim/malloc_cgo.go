//go:build linux && cgo

package memtrim

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
static void confine_malloc_trim(void) {
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}
*/
import "C"

// mallocTrim returns the C heap's free pages: what libseccomp's build of the filter, in
// the supervisor for `run FILE`, left free there.
func mallocTrim() { C.confine_malloc_trim() }
