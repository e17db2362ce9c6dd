// Package report_test opens the HTML audit report in headless Chromium and checks what it
// shows: the diagram's boxes and arrows and the findings table in the DOM, and the boxes
// drawn in the screenshot.
package report_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/audit/report"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// The diagram's colours, as the report's CSS sets them.
var (
	background = color.RGBA{0xf4, 0xf7, 0xfb, 0xff}
	fills      = map[string]color.RGBA{
		"component": {0xcf, 0xe2, 0xff, 0xff},
		"host":      {0xff, 0xe0, 0x8a, 0xff},
		"outside":   {0xff, 0xc9, 0xc9, 0xff},
	}
)

// chromium runs headless Chromium on url with extra flags and returns its stdout.
func chromium(t *testing.T, url string, flags ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-breakpad", "--disable-crash-reporter", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir=" + t.TempDir()}, flags...)
	cmd := exec.CommandContext(ctx, "chromium", append(args, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Errorf("chromium %s: %v\n%s", strings.Join(flags, " "), err, errb.String())
	}
	return out.Bytes()
}

// shopReport writes the HTML report of examples/shop with the audit package's test log.
func shopReport(t *testing.T) (*report.Report, map[string]string, string) {
	t.Helper()
	s, err := policy.Open(os.DirFS("../../examples"), "shop/stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	base, err := policy.BaselineSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	records, err := audit.ReadLog("../../audit/report/testdata/shop.log.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	r := report.BuildReport(report.ReportInput{Plan: p, Baseline: base, Records: records, LogName: "shop.log.jsonl",
		Generated: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)})
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shop.html")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Expected arrows, read off the bridge firewall's flows: "from>to" → port.
	names := privileges.Addresses(p)
	flows := map[string]string{}
	for _, f := range p.Network.Firewall.Flows {
		from, to := names[prefixAddr(t, f.Src)], names[prefixAddr(t, f.Dst)]
		flows[from+">"+to] = plan.PortString(f.Proto, f.First, f.Last)
	}
	// And the channels through the filesystem: a client's socket, a writer's share.
	for _, c := range p.Components {
		for _, ch := range c.Channels {
			if label := map[string]string{"connect": "unix ", "write": "share "}[ch.Role]; label != "" {
				k := c.Name + ">" + ch.Peer
				flows[k] = strings.TrimPrefix(flows[k]+", "+label+ch.Path, ", ")
			}
		}
	}
	return r, flows, path
}

func prefixAddr(t *testing.T, cidr string) string {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		t.Fatal(err)
	}
	return pfx.Addr().String()
}

type box struct {
	kind, name string
	x, y, w, h int
}

var (
	nodeRE    = regexp.MustCompile(`<g class="node ([a-z]+)" data-node="([^"]+)"><rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"`)
	edgeRE    = regexp.MustCompile(`<g class="edge" data-from="([^"]+)" data-to="([^"]+)">.*?<text class="port"[^>]*>([^<]*)</text>`)
	findingRE = regexp.MustCompile(`<tr class="finding sev-([a-z]+)" data-rule="([^"]+)" data-component="([^"]+)">.*?</tr>`)
	svgRE     = regexp.MustCompile(`<svg [^>]*class="communication" width="(\d+)" height="(\d+)"`)
)

func TestReportInChromium(t *testing.T) {
	testenv.Require(t, testenv.Command("chromium"))
	start := time.Now()
	r, flows, path := shopReport(t)
	url := "file://" + path
	var dom []byte
	pngPath := filepath.Join(t.TempDir(), "shop.png")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); dom = chromium(t, url, "--dump-dom") }()
	go func() { defer wg.Done(); chromium(t, url, "--window-size=1280,1400", "--screenshot="+pngPath) }()
	wg.Wait()
	t.Logf("chromium: %v for the DOM and the screenshot", time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		return
	}

	// The DOM: a box per component (and host), an arrow per flow with its port.
	html := string(dom)
	boxes := map[string]box{}
	for _, m := range nodeRE.FindAllStringSubmatch(html, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		boxes[m[2]] = box{m[1], m[2], n(3), n(4), n(5), n(6)}
	}
	for _, c := range r.Components {
		if b, ok := boxes[c.Name]; !ok || b.kind != "component" {
			t.Errorf("the diagram has no component box for %s (boxes: %v)", c.Name, boxes)
		}
	}
	if boxes["host"].kind != "host" || len(boxes) != len(r.Components)+1 {
		t.Errorf("want the components and host, got %v", boxes)
	}
	edges := map[string]string{}
	for _, m := range edgeRE.FindAllStringSubmatch(html, -1) {
		edges[m[1]+">"+m[2]] = m[3]
	}
	if fmt.Sprint(edges) != fmt.Sprint(flows) {
		t.Errorf("arrows %v, want one per flow %v", edges, flows)
	}
	// The findings table lists every finding, these among them.
	rows := findingRE.FindAllStringSubmatch(html, -1)
	if len(rows) != len(r.Findings) {
		t.Errorf("the findings table has %d rows, want %d", len(rows), len(r.Findings))
	}
	for _, want := range []struct{ sev, rule, component, text string }{
		{"high", "risky_syscall", "api", "allows io_uring_setup"},
		{"medium", "write_execute", "db", "/var/lib/postgresql/data"},
		{"medium", "best_effort", "db", "runs without cgroups"},
		{"low", "published", "frontend", "127.0.0.1:8080"},
	} {
		found := false
		for _, row := range rows {
			found = found || row[1] == want.sev && row[2] == want.rule && row[3] == want.component && strings.Contains(row[0], want.text)
		}
		if !found {
			t.Errorf("the findings table lacks %+v", want)
		}
	}
	if !strings.Contains(html, `class="lost" role="alert"`) {
		t.Error("the lost-records banner is missing")
	}

	// The screenshot: find the diagram by its background, then each box by its fill.
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	m := svgRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no SVG diagram in the DOM")
	}
	w, _ := strconv.Atoi(m[1])
	h, _ := strconv.Atoi(m[2])
	origin, ok := findRect(img, background, w, h)
	if !ok {
		t.Fatalf("no %d×%d rectangle of the diagram's background in the screenshot", w, h)
	}
	for _, b := range boxes {
		want := fills[b.kind]
		// Inside the box, clear of its border, rounded corners and centred label.
		for _, p := range []image.Point{{b.x + b.w/2, b.y + 5}, {b.x + 8, b.y + b.h - 6}, {b.x + b.w - 8, b.y + b.h/2}} {
			if got := img.At(origin.X+p.X, origin.Y+p.Y); !near(got, want) {
				t.Errorf("%s box at %v: pixel %v, want its fill %v", b.name, p, got, want)
			}
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the test took %v; keep it under 20 s", d)
	}
}

// findRect finds a w×h rectangle whose border rows and columns are all colour c (the
// diagram's background, which no box or arrow touches at its edges) and returns its
// top-left corner.
func findRect(img image.Image, c color.RGBA, w, h int) (image.Point, bool) {
	b := img.Bounds()
	line := func(x, y, dx, dy, n int) bool {
		for i := 0; i < n; i++ {
			if !near(img.At(x+i*dx, y+i*dy), c) {
				return false
			}
		}
		return true
	}
	for y := b.Min.Y; y+h <= b.Max.Y; y++ {
		for x := b.Min.X; x+w <= b.Max.X; x++ {
			if line(x, y, 1, 0, w) && line(x, y+h-1, 1, 0, w) && line(x, y, 0, 1, h) && line(x+w-1, y, 0, 1, h) {
				return image.Pt(x, y), true
			}
		}
	}
	return image.Point{}, false
}

// near compares colours within 2 of 255 per channel.
func near(got color.Color, want color.RGBA) bool {
	r, g, b, _ := got.RGBA()
	d := func(a uint32, w uint8) bool { x := int(a>>8) - int(w); return x >= -2 && x <= 2 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}
