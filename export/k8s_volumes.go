package export

import (
	"bytes"
	"sort"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// ClaimSize is the storage a volume's PersistentVolumeClaim requests: confine's volumes
// have no size, so it is a default, and a finding says to set it.
const ClaimSize = "1Gi"

// claimName is a volume's PersistentVolumeClaim: the volume's own name, not the stack's,
// since a confine volume is host-wide; lowercased with '_' as '-' for Kubernetes
// (confine's names are letters, digits, '_', '.' and '-', starting with a letter or digit).
func claimName(volume string) string {
	return strings.ReplaceAll(strings.ToLower(volume), "_", "-")
}

// writeClaims appends one ReadWriteOnce PersistentVolumeClaim per volume the Plan's
// components mount, in name order.
func writeClaims(b *bytes.Buffer, p *plan.Plan, f *findings) error {
	users := map[string][]*plan.Component{}
	orig := map[string]string{}
	for i := range p.Components {
		c := &p.Components[i]
		for _, m := range c.Mounts {
			if m.Type != "volume" {
				continue
			}
			n := claimName(m.Volume)
			orig[n] = m.Volume
			if l := users[n]; len(l) == 0 || l[len(l)-1] != c {
				users[n] = append(l, c)
			}
		}
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checkK8sName(n); err != nil {
			return err
		}
		cs := users[n]
		start := len(f.list)
		f.add(cs[0], "volumes", "volume %s is the PersistentVolumeClaim %s requesting a default %s: set spec.resources.requests.storage to what it needs; its data under confine is not copied", orig[n], n, ClaimSize)
		if len(cs) > 1 {
			var who []string
			for _, c := range cs {
				who = append(who, c.Name)
			}
			f.add(cs[0], "volumes", "volume %s is shared by %s: a ReadWriteOnce claim mounts on one node only, so their pods must be scheduled together (or use a ReadWriteMany storage class)", n, strings.Join(who, ", "))
		}
		pvc := &kPersistentVolumeClaim{
			kTypeMeta:  kTypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: kObjectMeta{Name: n, Labels: map[string]string{LabelStack: p.Name}},
			Spec: kPersistentVolumeClaimSpec{
				AccessModes: []string{kReadWriteOnce},
				Resources: kResourceRequirements{Requests: kResourceList{
					kResourceStorage: ClaimSize}},
			},
		}
		b.WriteString("---\n# volume " + n + "\n" + comment(f.list[start:]))
		if err := writeDocs(b, []any{pvc}); err != nil {
			return err
		}
	}
	return nil
}
