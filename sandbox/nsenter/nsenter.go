//go:build linux && cgo

package nsenter

/*
#cgo CFLAGS: -Wall -Wextra -O2
extern void confine_nsenter(void);
void __attribute__((constructor)) confine_nsenter_init(void) { confine_nsenter(); }
*/
import "C"
