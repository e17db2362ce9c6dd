// Package profiles holds confine's built-in base profiles: policy files in the component
// schema that other policies name under `extends:` or `syscalls.extends:`, and the named
// syscall groups (`@network-io`, …) that syscall rules may use.
package profiles

import "embed"

// FS holds <name>.yaml for each profile, and syscall_groups.yaml.
//
//go:embed *.yaml
var FS embed.FS

// GroupsFile is the file in FS that maps @group names to syscalls.
const GroupsFile = "syscall_groups.yaml"
