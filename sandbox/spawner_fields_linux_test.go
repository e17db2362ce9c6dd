package sandbox

import (
	"syscall"
	"testing"
)

// A SysProcAttr field the spawner does not make keeps the start on exec.Cmd.
func TestOnlySpawnerFields(t *testing.T) {
	made := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, Setsid: true, Pdeathsig: syscall.SIGKILL,
		Credential: &syscall.Credential{}, GidMappingsEnableSetgroups: true,
		UidMappings: []syscall.SysProcIDMap{{Size: 1}}, GidMappings: []syscall.SysProcIDMap{{Size: 1}}, AmbientCaps: []uintptr{0}}
	if !onlySpawnerFields(made) {
		t.Error("the attributes Start sets are refused")
	}
	for name, attr := range map[string]*syscall.SysProcAttr{
		"Setpgid":     {Setpgid: true},
		"Chroot":      {Chroot: "/tmp"},
		"Noctty":      {Noctty: true},
		"Unshare":     {Unshareflags: syscall.CLONE_NEWNS},
		"UseCgroupFD": {UseCgroupFD: true},
	} {
		if onlySpawnerFields(attr) {
			t.Errorf("%s: the spawner would drop it; the start must go to exec.Cmd", name)
		}
	}
}
