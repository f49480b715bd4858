package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"
)

// LogDriverCommand is the paas subcommand containerd's shim runs as an
// instance's logger when Options.LogDriver is set.
const LogDriverCommand = "log-driver"

// MaxLogBytes is the size at which an instance's log file is rotated: the
// current file becomes <file>.1 (replacing the older one).
const MaxLogBytes = 10 << 20

// RunLogDriver is "paas log-driver FILE". containerd's shim starts it with
// an instance's stdout and stderr as its file descriptors 3 and 4; it
// writes each line to FILE as "<RFC 3339 time> <stream> <text>", rotating
// the file at MaxLogBytes, and ends when the instance's streams close. It
// runs apart from paas server, so logging goes on while the server is
// down. It does not return.
func RunLogDriver(path string) {
	logging.Run(func(ctx context.Context, cfg *logging.Config, ready func() error) error {
		w, err := openRotating(path, MaxLogBytes)
		if err != nil {
			return err
		}
		if err := ready(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		for _, s := range []struct {
			name string
			r    io.Reader
		}{{"stdout", cfg.Stdout}, {"stderr", cfg.Stderr}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				copyLines(w, s.r, s.name)
			}()
		}
		wg.Wait()
		return w.Close()
	})
}

// copyLines timestamps each line of r into w. Lines longer than 64 KiB are
// split.
func copyLines(w *rotating, r io.Reader, stream string) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			w.writeLine(fmt.Sprintf("%s %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), stream, text))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

type rotating struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

func openRotating(path string, max int64) (*rotating, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rotating{path: path, max: max, f: f, size: st.Size()}, nil
}

func (w *rotating) writeLine(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size+int64(len(s)) > w.max && w.size > 0 {
		w.f.Close()
		_ = os.Rename(w.path, w.path+".1")
		f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return // nothing to log to; the lines are lost
		}
		w.f, w.size = f, 0
	}
	n, _ := w.f.WriteString(s)
	w.size += int64(n)
}

func (w *rotating) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// LogLine is one line of an instance's output.
type LogLine struct {
	Time   time.Time // zero if the line has no time (a log written without the driver)
	Stream string    // stdout or stderr, or "" if unknown
	Text   string
}

// ParseLogLine reads a line as the log driver writes it; a line in
// another form is all text.
func ParseLogLine(s string) LogLine {
	ts, rest, ok := strings.Cut(s, " ")
	if ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			stream, text, _ := strings.Cut(rest, " ")
			if stream == "stdout" || stream == "stderr" {
				return LogLine{Time: t, Stream: stream, Text: text}
			}
		}
	}
	return LogLine{Text: s}
}
