// Package logs merges an app's log streams — its instances' output files
// and the platform's events — into the lines "paas logs" shows:
//
//	2026-11-22T21:00:00Z app[web.1]: listening on 5000
//	2026-11-22T21:00:01Z paas[scheduler]: web.1 of v3 is healthy
//	2026-11-22T21:00:02Z paas[build]: build 4 succeeded in 2.8s (paas/shop:build-4)
//
// and follows them as they grow.
package logs

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"paas/controller"
	"paas/runtime"
)

// Options say what to read.
type Options struct {
	App string
	Dir string // the runtime's log directory
	// Lines is how many past lines to show; 0 means 100.
	Lines int
	// Follow keeps reading new lines until ctx ends.
	Follow bool
	// Process filters instance lines: "web" for every web instance,
	// "web.2" for one; "" shows all. Platform events are always shown
	// unless a process is given.
	Process string
	// Events returns the app's platform events; may be nil.
	Events func() []controller.Event
	// Poll is how often Follow looks for new lines; 0 means 250 ms.
	Poll time.Duration
	// Since drops lines and events dated before it: the app's creation,
	// so that nothing of a former app of the same name is shown. Lines
	// without a date are kept. The zero time keeps everything.
	Since time.Time
	// Gone, if not nil, is asked at each poll of Follow; when it says
	// true (the app was destroyed) the stream ends, so a follower never
	// reads a later app of the same name.
	Gone func() bool
}

type line struct {
	t    time.Time
	text string // formatted, without the time
}

func (l line) String() string {
	ts := "-"
	if !l.t.IsZero() {
		ts = l.t.UTC().Format(time.RFC3339)
	}
	return ts + " " + l.text + "\n"
}

// instanceName reads "web.2" out of a log file name
// "<app>.<process>.<n>.v<release>.<suffix>.log".
func instanceName(app, file string) (string, bool) {
	base := strings.TrimSuffix(filepath.Base(file), ".log")
	if base == app+".router" {
		return "router", true // the router's access lines
	}
	parts := strings.Split(strings.TrimPrefix(base, app+"."), ".")
	if len(parts) != 4 {
		return "", false
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return "", false
	}
	return parts[0] + "." + parts[1], true
}

func (o Options) wants(name string) bool {
	if o.Process == "" || o.Process == name {
		return true
	}
	return !strings.Contains(o.Process, ".") && strings.HasPrefix(name, o.Process+".")
}

// follower reads one log file from an offset on.
type follower struct {
	path, name string
	off        int64
}

func (f *follower) read() ([]line, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < f.off {
		f.off = 0 // rotated
	}
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return nil, err
	}
	var out []line
	br := bufio.NewReader(fh)
	for {
		s, err := br.ReadString('\n')
		if err != nil {
			break // a partial last line waits for its end
		}
		f.off += int64(len(s))
		ll := runtime.ParseLogLine(strings.TrimSuffix(s, "\n"))
		src := "app[" + f.name + "]"
		if f.name == "router" {
			src = "paas[router]"
		}
		out = append(out, line{t: ll.Time, text: src + ": " + ll.Text})
	}
	return out, nil
}

// Write writes the app's last lines to w and, with Follow, new ones as
// they come, until ctx ends.
func Write(ctx context.Context, w io.Writer, o Options) error {
	if o.Lines <= 0 {
		o.Lines = 100
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	flush := func() {}
	if f, ok := w.(interface{ Flush() }); ok {
		flush = f.Flush
	}
	followers := map[string]*follower{}
	var lastEvent time.Time
	collect := func() ([]line, error) {
		var out []line
		files, err := filepath.Glob(filepath.Join(o.Dir, o.App+".*.log"))
		if err != nil {
			return nil, err
		}
		for _, p := range files {
			if _, ok := followers[p]; !ok {
				name, ok := instanceName(o.App, p)
				if !ok || !o.wants(name) {
					continue
				}
				followers[p] = &follower{path: p, name: name}
			}
		}
		for _, f := range followers {
			ls, err := f.read()
			if err != nil && !os.IsNotExist(err) {
				return nil, err
			}
			out = append(out, ls...)
		}
		if o.Events != nil && o.Process == "" {
			for _, e := range o.Events() {
				if e.Time.After(lastEvent) {
					src := e.Source
					if src == "" {
						src = "scheduler"
					}
					out = append(out, line{t: e.Time, text: "paas[" + src + "]: " + e.Message})
					lastEvent = e.Time
				}
			}
		}
		if !o.Since.IsZero() {
			kept := out[:0]
			for _, l := range out {
				if l.t.IsZero() || !l.t.Before(o.Since) {
					kept = append(kept, l)
				}
			}
			out = kept
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].t.Before(out[j].t) })
		return out, nil
	}
	first, err := collect()
	if err != nil {
		return err
	}
	if len(first) > o.Lines {
		first = first[len(first)-o.Lines:]
	}
	for _, l := range first {
		if _, err := io.WriteString(w, l.String()); err != nil {
			return err
		}
	}
	flush()
	if !o.Follow {
		return nil
	}
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if o.Gone != nil && o.Gone() {
			return nil
		}
		ls, err := collect()
		if err != nil {
			return err
		}
		for _, l := range ls {
			if _, err := io.WriteString(w, l.String()); err != nil {
				return err
			}
		}
		if len(ls) > 0 {
			flush()
		}
	}
}
