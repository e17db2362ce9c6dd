// Package schema embeds the JSON Schemas (draft 2020-12) of confine's policy files, for
// YAML language servers and other editors:
//
//	# yaml-language-server: $schema=../schema/policy.schema.json
//
// policy.schema.json describes a component policy and stack.schema.json a stack (a file
// with a top-level components key). docs/policy.md is the reference both follow;
// schema_test.go holds their keys to the loader's Go types.
package schema

import "embed"

// FS holds policy.schema.json and stack.schema.json.
//
//go:embed *.json
var FS embed.FS
