// Package nsenter is confine exec's pre-runtime stage: C run from a cgo constructor
// before the Go runtime starts (runc's nsexec model), since a multithreaded Go process
// cannot setns(2) into a mount or user namespace. Imported for its side effect by
// cmd/confine only. The constructor returns at once unless _CONFINE_NSENTER is set,
// which only sandbox.(*Sandbox).Exec sets; it then joins the component's namespaces
// through a pidfd, forks so the child is inside the pid namespace, lets the child start
// the Go runtime (sandbox.ExecInit applies the component's enforcement and execs) and
// waits for it, exiting with its status. Without cgo the stage is missing and ExecInit
// refuses to go on, because it checks that its namespaces are the component's.
package nsenter
