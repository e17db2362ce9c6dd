package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/confine-sandbox/confine/audit/privileges"
)

//go:embed templates/report.html.tmpl
var templateFS embed.FS

// htmlTemplate is parsed once, on first use rather than at every start of the binary
// (0.4 ms or more of each supervisor's start-up); html/template escapes every value by
// its context, so a component name, path or kernel string ("<script>…") shows as text.
var htmlTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
		"join":     strings.Join,
		"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
		"size":     func(n int64) string { return sizeOrUnlimited(n) },
		"percent":  func(score float64) int { return int(score * 10) },
		"counts":   severityList,
		"ports":    func(e privileges.Edge) string { return strings.Join(e.Ports, ", ") },
		"details":  detailsString,
		"status":   exitString,
		"access":   accessSummary,
		"sevClass": func(s Severity) string { return "sev-" + string(s) },
		"orNone": func(s []string) string {
			if len(s) == 0 {
				return "none"
			}
			return strings.Join(s, ", ")
		},
	}).ParseFS(templateFS, "templates/report.html.tmpl"))
})

// WriteHTML writes the report as one self-contained HTML file: inline CSS, the
// communication diagram as inline SVG, no script and no external resource.
func (r *Report) WriteHTML(w io.Writer) error {
	return htmlTemplate().Execute(w, struct {
		*Report
		Diagram diagram
		Grid    [][]string
	}{r, layoutDiagram(r), matrixGrid(r.Matrix)})
}

// diagram is the communication matrix laid out for SVG, in pixels.
type diagram struct {
	Width, Height int
	Nodes         []diagramNode
	Edges         []diagramEdge
}

// diagramNode is a box; Kind is component, host or outside (the SVG classes).
type diagramNode struct {
	Name, Kind   string
	X, Y, W, H   int
	TextX, TextY int
}

// diagramEdge is an arrow from one box to another, labelled with its ports.
type diagramEdge struct {
	From, To, Label string
	Path            string
	// LabelX, LabelY is the label's centre; LabelRect* its background box.
	LabelX, LabelY, LabelW int
	LabelRectX, LabelRectY int
}

// Layout constants, in pixels.
const (
	nodeH    = 40
	rowPitch = 68
	colGap   = 150
	margin   = 24
	charW    = 8  // a generous width for one character of the 13px node font
	labelCh  = 7  // and of the 11px port labels
	arcLift  = 34 // how far the first arc rises above (or dips below) the boxes
	arcSpace = 24 // and each further arc
)

// layoutDiagram places the matrix deterministically: "host" in the first column, the
// components in columns by call depth (callers left of callees, visited in reverse start
// order, so a stack's entry point comes first), "outside" in the last column. Within a
// column, boxes keep the visiting order and the column is centred vertically. An arrow to
// the next column is a curve between the boxes' sides; one that skips columns arcs under
// the boxes, and any other (a cycle, a call back, "outside" calling in) over them, each
// arc at its own height so that no two labels overlap.
func layoutDiagram(r *Report) diagram {
	col, columns := diagramColumns(r)
	var over, under int // arcs above and below the boxes
	for _, e := range r.Matrix.Edges {
		switch span := col[e.To] - col[e.From]; {
		case span <= 0:
			over++
		case span > 1:
			under++
		}
	}
	top := margin + 18
	if over > 0 {
		top += arcLift + arcSpace*over
	}
	d := placeBoxes(columns, top)
	bottom := d.Height - margin
	if under > 0 {
		d.Height += arcLift + arcSpace*under
	}
	boxes := map[string]*diagramNode{}
	for i := range d.Nodes {
		boxes[d.Nodes[i].Name] = &d.Nodes[i]
	}
	over, under = 0, 0
	for _, e := range r.Matrix.Edges {
		a, b := boxes[e.From], boxes[e.To]
		if a == nil || b == nil {
			continue
		}
		var peak int
		switch span := col[e.To] - col[e.From]; {
		case span > 1:
			under++
			peak = bottom + arcLift + arcSpace*(under-1)
		case span <= 0:
			over++
			peak = top - arcLift - arcSpace*(over-1)
		}
		d.Edges = append(d.Edges, routeEdge(e, a, b, peak))
	}
	return d
}

// diagramColumns assigns each node its column and lists the columns' nodes in order.
func diagramColumns(r *Report) (map[string]int, [][]string) {
	m := r.Matrix
	var visit []string
	for i := len(r.StartOrder) - 1; i >= 0; i-- {
		if slices.Contains(m.Nodes, r.StartOrder[i]) {
			visit = append(visit, r.StartOrder[i])
		}
	}
	for _, n := range m.Nodes {
		if n != "host" && n != "outside" && !slices.Contains(visit, n) {
			visit = append(visit, n)
		}
	}
	col := map[string]int{}
	order := visit
	if slices.Contains(m.Nodes, "host") {
		col["host"] = 0
		order = append([]string{"host"}, order...)
	}
	last := 0
	for _, n := range visit {
		c := 1 // a caller's column plus one, among the callers already placed
		for _, e := range m.Edges {
			if p, ok := col[e.From]; ok && e.To == n && e.From != n && p+1 > c {
				c = p + 1
			}
		}
		col[n], last = c, max(last, c)
	}
	if slices.Contains(m.Nodes, "outside") {
		col["outside"] = last + 1
		order = append(order, "outside")
	}
	// Compress empty columns and gather each column's nodes.
	var used []int
	for _, n := range order {
		if !slices.Contains(used, col[n]) {
			used = append(used, col[n])
		}
	}
	slices.Sort(used)
	columns := make([][]string, len(used))
	for _, n := range order {
		i := slices.Index(used, col[n])
		col[n] = i
		columns[i] = append(columns[i], n)
	}
	return col, columns
}

// placeBoxes lays the columns out left to right from y = top, each centred vertically;
// boxes in a column share its width.
func placeBoxes(columns [][]string, top int) diagram {
	rows := 0
	for _, c := range columns {
		rows = max(rows, len(c))
	}
	var d diagram
	x := margin
	for _, names := range columns {
		w := 110
		for _, n := range names {
			w = max(w, charW*len([]rune(n))+28)
		}
		y := top + (rows-len(names))*rowPitch/2
		for _, n := range names {
			kind := "component"
			if n == "host" || n == "outside" {
				kind = n
			}
			d.Nodes = append(d.Nodes, diagramNode{Name: n, Kind: kind, X: x, Y: y, W: w, H: nodeH, TextX: x + w/2, TextY: y + nodeH/2 + 5})
			y += rowPitch
		}
		x += w + colGap
	}
	d.Width = x - colGap + margin
	d.Height = top + rows*rowPitch - (rowPitch - nodeH) + margin
	return d
}

// routeEdge draws e from box a to box b: side to side when peak is 0, else an arc from
// a's edge to b's that bends towards y = peak (over the boxes when peak lies above them).
func routeEdge(e privileges.Edge, a, b *diagramNode, peak int) diagramEdge {
	label := strings.Join(e.Ports, ", ")
	de := diagramEdge{From: e.From, To: e.To, Label: label, LabelW: labelCh*len([]rune(label)) + 10}
	switch {
	case peak == 0:
		x1, y1 := a.X+a.W, a.Y+nodeH/2
		x2, y2 := b.X-2, b.Y+nodeH/2
		dx := (x2 - x1) / 2
		de.Path = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1+dx, y1, x2-dx, y2, x2, y2)
		de.LabelX, de.LabelY = (x1+x2)/2, (y1+y2)/2
	default:
		x1, y1 := a.X+a.W/2+8, a.Y+nodeH
		x2, y2 := b.X+b.W/2-8, b.Y+nodeH+2
		if peak < a.Y {
			y1, y2 = a.Y, b.Y-2
		}
		de.Path = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1, peak, x2, peak, x2, y2)
		// The cubic's midpoint: (P0 + 3·P1 + 3·P2 + P3) / 8.
		de.LabelX, de.LabelY = (x1+x2)/2, (y1+6*peak+y2)/8
	}
	de.LabelRectX, de.LabelRectY = de.LabelX-de.LabelW/2, de.LabelY-8
	return de
}

func sizeOrUnlimited(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return sizeString(n)
}

// severityList writes the non-zero counts: "1 high, 2 low", or "none".
func severityList(n SeverityCounts) string {
	var out []string
	for _, c := range []struct {
		n    int
		name Severity
	}{{n.Critical, Critical}, {n.High, High}, {n.Medium, Medium}, {n.Low, Low}, {n.Info, Info}} {
		if c.n > 0 {
			out = append(out, fmt.Sprintf("%d %s", c.n, c.name))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// matrixGridMax is the most nodes the matrix is drawn for as a grid; beyond it the flows
// table alone lists the matrix (a 100×100 grid helps no reviewer).
const matrixGridMax = 24

// matrixGrid is the matrix as rows of cells: cell [i][j] holds the ports node i may open
// to node j, or "". It is nil for more than matrixGridMax nodes.
func matrixGrid(m privileges.Matrix) [][]string {
	if len(m.Nodes) > matrixGridMax {
		return nil
	}
	grid := make([][]string, len(m.Nodes))
	for i := range grid {
		grid[i] = make([]string, len(m.Nodes))
	}
	for _, e := range m.Edges {
		i, j := slices.Index(m.Nodes, e.From), slices.Index(m.Nodes, e.To)
		if i >= 0 && j >= 0 {
			grid[i][j] = strings.Join(e.Ports, ", ")
		}
	}
	return grid
}

// detailsString writes details as sorted key=value pairs.
func detailsString(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		v := d[k]
		switch x := v.(type) {
		case float64:
			if x == float64(int64(x)) {
				v = int64(x)
			}
		case []any:
			parts := make([]string, len(x))
			for j, p := range x {
				parts[j] = fmt.Sprint(p)
			}
			v = strings.Join(parts, ",")
		}
		out[i] = fmt.Sprintf("%s=%v", k, v)
	}
	return strings.Join(out, " ")
}

// exitString writes an exit: "status 0", "status 137 (killed)", "killed by SIGKILL, OOM".
func exitString(e Exit) string {
	var parts []string
	if e.Status != nil {
		parts = append(parts, fmt.Sprintf("status %d", *e.Status))
	} else {
		parts = append(parts, "status unknown")
	}
	if e.Signal != "" {
		parts = append(parts, "signal "+e.Signal)
	}
	if e.OOMKilled {
		parts = append(parts, "OOM-killed")
	}
	return strings.Join(parts, ", ")
}

// accessSummary writes Landlock rights as a reviewer reads them: "read, write, execute".
func accessSummary(access []string) string {
	var out []string
	if privileges.HasAny(access, []string{"read_file", "read_dir"}) {
		out = append(out, "read")
	}
	if privileges.HasAny(access, privileges.WriteRights) {
		out = append(out, "write")
	}
	if slices.Contains(access, "execute") {
		out = append(out, "execute")
	}
	if slices.Contains(access, "ioctl_dev") {
		out = append(out, "ioctl on devices")
	}
	return strings.Join(out, ", ")
}
