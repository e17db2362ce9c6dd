// Package profiles holds confine's built-in base profiles: policy files in the component
// schema that other policies name under `extends:` or `syscalls.extends:`, and the named
// syscall groups (`@network-io`, …) that syscall rules may use. Package policy holds
// both as Go literals too (groups_table.go, profiles_table.go), which compile reads
// instead of parsing the YAML; after an edit here, `go test ./policy -run
// 'GroupsTable|ProfilesTable' -update` writes them again, and those tests fail until then.
package profiles

import "embed"

// FS holds <name>.yaml for each profile, and syscall_groups.yaml.
//
//go:embed *.yaml
var FS embed.FS

// GroupsFile is the file in FS that maps @group names to syscalls.
const GroupsFile = "syscall_groups.yaml"
