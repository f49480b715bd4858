package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"paas/controller"
)

// ANSI terminal attributes.
const (
	bold   = "\x1b[1m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// paint wraps s in an attribute if colour is on and attr is not empty.
func paint(s, attr string, colour bool) string {
	if !colour || attr == "" || s == "" {
		return s
	}
	return attr + s + reset
}

// statusColour is the colour of a release or build status.
func statusColour(status string) string {
	switch status {
	case controller.ReleaseSucceeded:
		return green
	case controller.ReleaseFailed:
		return red
	case controller.ReleasePending, controller.ReleaseDeploying, controller.BuildRunning:
		return yellow
	}
	return ""
}

// table is rows of cells printed in aligned columns under an upper-case
// header. It aligns cells itself rather than through text/tabwriter,
// which would count colour escapes as part of a cell's width.
type table struct {
	header []string
	rows   [][]string
	status int // index of the column coloured by status; -1 for none
}

func newTable(header ...string) *table {
	return &table{header: header, status: -1}
}

// add appends a row; it should have as many cells as the header.
func (t *table) add(cells ...string) {
	t.rows = append(t.rows, cells)
}

// render writes the table with two spaces between columns and no spaces
// at the ends of lines.
func (t *table) render(w io.Writer, colour bool) error {
	rows := make([][]string, 0, len(t.rows)+1)
	header := make([]string, len(t.header))
	for i, h := range t.header {
		header[i] = strings.ToUpper(h)
	}
	rows = append(rows, header)
	for _, row := range t.rows {
		clean := make([]string, len(row))
		for i, c := range row {
			clean[i] = sanitize(c)
		}
		rows = append(rows, clean)
	}
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for r, row := range rows {
		last := len(row) - 1
		for last > 0 && row[last] == "" { // no trailing blanks
			last--
		}
		for i, c := range row[:last+1] {
			switch {
			case r == 0:
				b.WriteString(paint(c, bold, colour))
			case i == t.status:
				b.WriteString(paint(c, statusColour(c), colour))
			default:
				b.WriteString(c)
			}
			if i < last {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fields is a titled block of "Name: value" lines, values aligned, as
// info commands show.
type fields struct {
	title string
	rows  [][2]string
}

func (f *fields) add(name, value string) {
	f.rows = append(f.rows, [2]string{name, value})
}

func (f *fields) render(w io.Writer, colour bool) error {
	var b strings.Builder
	b.WriteString(paint("=== "+sanitize(f.title), bold, colour) + "\n")
	width := 0
	for _, r := range f.rows {
		width = max(width, utf8.RuneCountInString(r[0]))
	}
	for _, r := range f.rows {
		value := sanitize(r[1])
		if r[0] == "Status" {
			value = paint(value, statusColour(value), colour)
		}
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(r[0])+2)
		b.WriteString(strings.TrimRight(r[0]+":"+pad+value, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sanitize makes text from the server safe to print on a terminal and
// one line long: newlines and tabs become \n and \t, and other control
// characters, which could move the cursor or change colours, become "?".
func sanitize(s string) string {
	clean := true
	for _, c := range s {
		if isControl(c) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case isControl(c):
			b.WriteByte('?')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func isControl(c rune) bool {
	return c < 0x20 || (c >= 0x7f && c < 0xa0)
}

// formatTime shows a time in the local zone, to the minute.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}

// formatMemory shows a memory limit in bytes the way parseMemory reads it.
func formatMemory(b int64) string {
	switch {
	case b == 0:
		return "default"
	case b%(1<<30) == 0:
		return strconv.FormatInt(b>>30, 10) + "G"
	case b%(1<<20) == 0:
		return strconv.FormatInt(b>>20, 10) + "M"
	case b%(1<<10) == 0:
		return strconv.FormatInt(b>>10, 10) + "K"
	}
	return strconv.FormatInt(b, 10)
}

// formatCPU shows a CPU limit in millicores as cores, the way parseCPU
// reads it.
func formatCPU(m int) string {
	if m == 0 {
		return "default"
	}
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64)
}

// version shows a release version.
func version(v int) string {
	return "v" + strconv.Itoa(v)
}

// short cuts a git revision to the usual seven characters.
func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// formationSummary shows a formation on one line: "web=2 worker=1".
func formationSummary(ps []controller.Process) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s=%d", p.Type, p.Quantity)
	}
	return strings.Join(parts, " ")
}
