package main

import (
	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/policy/plan"
)

// storeFlag is the global --store; CONFINE_STORE stands in when it is not given.
var storeFlag string

func addStoreFlag(root *cobra.Command) {
	root.PersistentFlags().StringVar(&storeFlag, "store", "", "image store `DIR` (default $CONFINE_STORE, else /var/lib/confine as root)")
}

// needsStore reports whether c runs on the image store: an image's overlay or a volume.
func needsStore(c *plan.Component) bool {
	for _, m := range c.Mounts {
		if m.Type == "overlay" || m.Type == "volume" {
			return true
		}
	}
	return false
}
