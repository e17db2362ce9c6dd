package export

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/confine-sandbox/confine/policy/plan"
)

// outside is an egress flow to addresses beyond the stack, and a port range, added to
// the shop's api so the ipBlock and endPort paths are exercised too.
var outside = plan.Flow{Set: "egress", Src: "10.88.0.3/32", Dst: "203.0.113.0/24", Proto: "tcp", First: 443, Last: 444, Why: "test: connect 203.0.113.0/24:443-444/tcp"}

func k8sPlan(t *testing.T) *plan.Plan {
	p := loadPlan(t, "shop.plan.json")
	api := &p.Components[1]
	if api.Name != "api" {
		t.Fatalf("component 1 is %s", api.Name)
	}
	api.Net.Firewall.Flows = append(api.Net.Firewall.Flows, outside)
	return withVolume(p)
}

// withVolume mounts the store volume Shop_Data in api and db (a shared one).
func withVolume(p *plan.Plan) *plan.Plan {
	for _, i := range []int{1, 2} {
		c := &p.Components[i]
		c.Mounts = append(c.Mounts, plan.Mount{Type: "volume", Volume: "Shop_Data", Target: "/var/lib/shared", Options: []string{"nosuid", "nodev"}, Idmap: true, Why: "filesystem.write: volume Shop_Data (kept after the run)"})
	}
	return p
}

// decodeStrict decodes every document of the manifests into its k8s.io/api type,
// refusing unknown fields, and returns the NetworkPolicies.
func decodeStrict(t *testing.T, data []byte) []*networkingv1.NetworkPolicy {
	t.Helper()
	var netpols []*networkingv1.NetworkPolicy
	var claims []*corev1.PersistentVolumeClaim
	var deps []*appsv1.Deployment
	kinds := map[string]int{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if tm.Kind == "" { // the file's header comment
			continue
		}
		kinds[tm.Kind]++
		var obj any
		switch tm.Kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			deps = append(deps, d)
			obj = d
		case "Service":
			obj = &corev1.Service{}
		case "PersistentVolumeClaim":
			pvc := &corev1.PersistentVolumeClaim{}
			claims = append(claims, pvc)
			obj = pvc
		case "NetworkPolicy":
			np := &networkingv1.NetworkPolicy{}
			netpols = append(netpols, np)
			obj = np
		default:
			t.Fatalf("unexpected kind %s", tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("strict decode of a %s: %v\n%s", tm.Kind, err, doc)
		}
	}
	if kinds["Deployment"] != 3 || kinds["Service"] != 3 || kinds["NetworkPolicy"] != 4 || kinds["PersistentVolumeClaim"] != 1 {
		t.Fatalf("kinds %v, want 3 Deployments, 3 Services, 4 NetworkPolicies, 1 PersistentVolumeClaim", kinds)
	}
	checkClaim(t, claims[0], deps)
	return netpols
}

func TestK8sDecodesStrictly(t *testing.T) {
	r, err := Export(k8sPlan(t), "k8s", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, np := range decodeStrict(t, r.Files[len(r.Files)-1].Data) {
		if len(np.Spec.PolicyTypes) != 2 {
			t.Errorf("%s: policyTypes %v, want Ingress and Egress", np.Name, np.Spec.PolicyTypes)
		}
	}
	if got := r.Files[0].Path; got != "seccomp/shop-api.json" {
		t.Errorf("first file %s", got)
	}
}

// peer is one endpoint of the traffic the matcher is asked about.
type peer struct {
	name      string
	component string // "" outside the stack
	tp        *matcher.TrafficPeer
}

func peers(p *plan.Plan) []peer {
	ns := map[string]string{"kubernetes.io/metadata.name": "default"}
	var out []peer
	for _, c := range p.Components {
		out = append(out, peer{c.Name, c.Name, &matcher.TrafficPeer{IP: c.Net.Address,
			Internal: &matcher.InternalPeer{PodLabels: podLabels(p, c.Name), NamespaceLabels: ns, Namespace: "default"}}})
	}
	out = append(out,
		peer{"kube-dns", "", &matcher.TrafficPeer{IP: "10.96.0.10", Internal: &matcher.InternalPeer{PodLabels: KubeDNSPods, NamespaceLabels: KubeDNSNamespace, Namespace: "kube-system"}}},
		peer{"other-pod", "", &matcher.TrafficPeer{IP: "10.244.1.9", Internal: &matcher.InternalPeer{PodLabels: map[string]string{"app": "x"}, NamespaceLabels: ns, Namespace: "default"}}},
		peer{"outside-allowed", "", &matcher.TrafficPeer{IP: "203.0.113.9"}},
		peer{"outside-other", "", &matcher.TrafficPeer{IP: "198.51.100.1"}},
		peer{"bridge", "", &matcher.TrafficPeer{IP: p.Network.BridgeAddress}})
	return out
}

// planAllows is confine's own answer from the compiled firewalls: the source's egress
// set and the destination's ingress set must both hold the flow (a side outside the
// stack has no set of its own).
func planAllows(p *plan.Plan, src, dst peer, port int, proto string) bool {
	side := func(name, set string, other string) bool {
		for _, c := range p.Components {
			if c.Name != name {
				continue
			}
			for _, fl := range c.Net.Firewall.Flows {
				peerAddr := fl.Dst
				if set == "ingress" {
					peerAddr = fl.Src
				}
				pr, err := netip.ParsePrefix(peerAddr)
				ip, err2 := netip.ParseAddr(other)
				if fl.Set == set && fl.Proto == proto && port >= int(fl.First) && port <= int(fl.Last) && err == nil && err2 == nil && pr.Contains(ip) {
					return true
				}
			}
		}
		return false
	}
	if src.component == "" && dst.component == "" {
		return true // not the stack's traffic: no policy of the export selects either side
	}
	egress := src.component == "" || side(src.component, "egress", dst.tp.IP)
	ingress := dst.component == "" || side(dst.component, "ingress", src.tp.IP)
	return egress && ingress
}

// TestNetworkPoliciesMatchTheFlows evaluates the exported NetworkPolicies with an
// independent engine, cyclonus's matcher (policy-assistant's module did not resolve from
// the proxy), over every (source, destination, port, protocol) and compares its answer
// with the compiled flows. Two differences are the findings: published traffic (from the
// bridge) is not admitted, and DNS egress to kube-dns is added for callers by name.
func TestNetworkPoliciesMatchTheFlows(t *testing.T) {
	p := k8sPlan(t)
	r, err := Export(p, "k8s", Options{})
	if err != nil {
		t.Fatal(err)
	}
	netpols := decodeStrict(t, r.Files[len(r.Files)-1].Data)
	var pol *matcher.Policy
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("the matcher panicked: %v", v)
			}
		}()
		pol = matcher.BuildNetworkPolicies(false, netpols)
	}()
	published := hasFinding(r, "publish")
	ports := []int{1, 53, 443, 444, 445, 5432, 8080, 9000}
	allowed := 0
	for _, src := range peers(p) {
		for _, dst := range peers(p) {
			for _, port := range ports {
				for _, proto := range []string{"tcp", "udp", "sctp"} {
					tr := &matcher.Traffic{Source: src.tp, Destination: dst.tp, ResolvedPort: port, Protocol: corev1.Protocol(strings.ToUpper(proto))}
					var got bool
					func() {
						defer func() {
							if v := recover(); v != nil {
								t.Fatalf("the matcher panicked on %v: %v", tr, v)
							}
						}()
						got = pol.IsTrafficAllowed(tr).IsAllowed()
					}()
					want := planAllows(p, src, dst, port, proto)
					what := fmt.Sprintf("%s -> %s %d/%s", src.name, dst.name, port, proto)
					switch {
					case src.name == "bridge" && dst.component != "" && want:
						// Published traffic: not admitted, and said so.
						if got || !published {
							t.Errorf("%s: matcher %v, want denied with a publish finding", what, got)
						}
					case dst.name == "kube-dns" && src.component != "":
						dns := port == 53 && proto != "sctp" && len(component(p, src.component).Net.Hosts) > 0
						if got != dns {
							t.Errorf("%s: matcher %v, want %v (DNS for callers by name)", what, got, dns)
						}
					case got != want:
						t.Errorf("%s: matcher %v, confine's flows %v", what, got, want)
					}
					if got && src.component != "" && dst.component != "" {
						allowed++
					}
				}
			}
		}
	}
	if allowed != 2 { // frontend→api:9000, api→db:5432
		t.Errorf("%d pod-to-pod tuples allowed, want 2", allowed)
	}
}

func component(p *plan.Plan, name string) *plan.Component {
	for i := range p.Components {
		if p.Components[i].Name == name {
			return &p.Components[i]
		}
	}
	return nil
}

func hasFinding(r *Result, mech string) bool {
	for _, f := range r.Findings {
		if f.Mechanism == mech {
			return true
		}
	}
	return false
}

// TestServicesPerPort: a Service per listened port, the first named after the component;
// a range gets none, and says so.
func TestServicesPerPort(t *testing.T) {
	p := loadPlan(t, "shop.plan.json")
	db := &p.Components[2]
	db.Net.Listen = append(db.Net.Listen, plan.Port{Proto: "udp", First: 5433, Last: 5433}, plan.Port{Proto: "tcp", First: 6000, Last: 6001})
	r, err := Export(p, "k8s", Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := string(r.Files[len(r.Files)-1].Data)
	for _, name := range []string{"name: shop-db\n", "name: shop-db-5433-udp\n"} {
		if !strings.Contains(data, name) {
			t.Errorf("no Service %q", name)
		}
	}
	if strings.Contains(data, "name: shop-db-6000") || !hasFinding(r, "ports") {
		t.Errorf("the range 6000-6001 got a Service or no finding")
	}
}

// TestK8sNameTooLong: a name Kubernetes cannot take is an error, not a broken manifest.
func TestK8sNameTooLong(t *testing.T) {
	p := loadPlan(t, "shop.plan.json")
	p.Name = strings.Repeat("s", 32)
	p.Components[0].Name = strings.Repeat("c", 32)
	if _, err := Export(p, "k8s", Options{}); err == nil || !strings.Contains(err.Error(), "cannot name a Kubernetes") {
		t.Fatalf("err %v", err)
	}
}

// TestNameEgressIsAFinding: egress by DNS name, which neither core NetworkPolicy nor
// IPAddressAllow= can say, is a finding in both, and the pod may still reach kube-dns.
func TestNameEgressIsAFinding(t *testing.T) {
	for _, format := range []string{"k8s", "systemd"} {
		p := withVolume(loadPlan(t, "shop.plan.json"))
		api := component(p, "api")
		api.Net.Names = []plan.NameFlow{{Name: "api.vendor.example", Proto: "tcp", First: 443, Last: 443}}
		api.Net.Hosts = nil
		r, err := Export(p, format, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !hasFinding(r, "dns_egress") {
			t.Errorf("%s: no dns_egress finding for a name-based connect", format)
		}
		if format != "k8s" {
			continue
		}
		dns := false
		for _, np := range decodeStrict(t, r.Files[len(r.Files)-1].Data) {
			if np.Name != "shop-api" {
				continue
			}
			for _, e := range np.Spec.Egress {
				for _, to := range e.To {
					dns = dns || to.PodSelector != nil && to.PodSelector.MatchLabels["k8s-app"] == "kube-dns"
				}
			}
		}
		if !dns {
			t.Errorf("k8s: shop-api calls by name and has no egress to kube-dns")
		}
	}
}

// TestImageByDigest: a pinned registry image runs by digest; a local one keeps its digest
// under a placeholder name, with a finding.
func TestImageByDigest(t *testing.T) {
	const digest = "sha256:" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	for ref, want := range map[string]string{
		"registry.example:5000/shop/api:1.2": "registry.example:5000/shop/api@" + digest,
		"oci:/src/layout:api":                PlaceholderRegistry + "shop-api@" + digest,
	} {
		p := loadPlan(t, "shop.plan.json")
		component(p, "api").Image = &plan.Image{Ref: ref, Digest: digest}
		r, err := Export(p, "k8s", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if data := string(r.Files[len(r.Files)-1].Data); !strings.Contains(data, "image: "+want+"\n") {
			t.Errorf("%s: no image %s in the Deployment", ref, want)
		}
	}
}

// checkClaim: the shared volume is one ReadWriteOnce claim with a storage request,
// mounted at its target by exactly the two Deployments that use it.
func checkClaim(t *testing.T, pvc *corev1.PersistentVolumeClaim, deps []*appsv1.Deployment) {
	t.Helper()
	if pvc.Name != "shop-data" || len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("claim %s access %v", pvc.Name, pvc.Spec.AccessModes)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != ClaimSize {
		t.Errorf("claim requests %s", q.String())
	}
	var users []string
	for _, d := range deps {
		pod := d.Spec.Template.Spec
		for _, v := range pod.Volumes {
			if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
				continue
			}
			for _, m := range pod.Containers[0].VolumeMounts {
				if m.Name == v.Name && m.MountPath == "/var/lib/shared" {
					users = append(users, d.Name)
				}
			}
		}
	}
	if fmt.Sprint(users) != "[shop-api shop-db]" {
		t.Errorf("claim mounted by %v, want shop-api and shop-db", users)
	}
}
