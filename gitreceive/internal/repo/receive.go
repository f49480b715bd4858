package repo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
)

// Command is one reference update a client asks for. A zero Old creates
// the reference, a zero New deletes it.
type Command struct {
	Name     plumbing.ReferenceName
	Old, New plumbing.Hash
}

// IsDelete reports whether the command deletes its reference.
func (c Command) IsDelete() bool { return c.New.IsZero() }

// ReceiveOptions is what a push may do, decided by the caller.
type ReceiveOptions struct {
	// MaxPackBytes bounds the size of the pack a client may send; 0 means
	// no limit.
	MaxPackBytes int64
	// Agent is advertised as the server's agent capability.
	Agent string
	// Check is called for each command before the pack is read. A non-empty
	// reason refuses the command; git shows it as "[remote rejected] (reason)".
	// If nil, every command is accepted.
	Check func(Command) (reason string)
	// Deploy is called for each accepted command that moves a reference to a
	// new commit, after the pack is stored and before the reference moves.
	// progress reaches the pusher as "remote:" lines. If it returns an error
	// the reference stays, and the command is refused with DeployFailed.
	Deploy func(ctx context.Context, c Command, progress io.Writer) error
}

// Status strings a client sees in the report for its commands.
const (
	DeployFailed = "deploy failed"
	statusOK     = "ok"
)

// ErrTooLarge is the unpack error of a push whose pack exceeds MaxPackBytes.
var ErrTooLarge = errors.New("push too large")

// Result tells what a push did.
type Result struct {
	Commands  []Command
	Statuses  []string      // per command: "ok" or the reason it was refused
	PackBytes int64         // bytes of pack data received
	Receive   time.Duration // from the start to the pack being stored
	Deploy    time.Duration // spent in Deploy
	Update    time.Duration // spent moving references
}

// ReceivePack serves one git-receive-pack exchange: it advertises the
// references, reads the client's commands and pack, stores the pack, calls
// Deploy, moves the references that deployed, and reports per command.
//
// Capabilities are those of git's own receive-pack that go-git can serve:
// report-status, delete-refs, ofs-delta, side-band(-64k) and no-thin —
// go-git cannot resolve the bases of a thin pack, so clients are told not to
// send one. Atomic pushes, push options and pushes from shallow clones are
// not supported.
//
// A command whose new commits hold a tree git fsck refuses (see
// checkTrees) is refused as "invalid tree" before Deploy runs.
//
// A push whose commands are all refused, or whose deploy fails, leaves no
// objects behind: the pack it added is removed. The caller must hold the
// app's lock.
func (r *Repo) ReceivePack(ctx context.Context, in io.Reader, out, errOut io.Writer, opts ReceiveOptions) (Result, error) {
	start := time.Now()
	var res Result
	if err := r.advertise(out, opts.Agent); err != nil {
		return res, fmt.Errorf("advertise references: %w", err)
	}
	// The commands are bounded apart from the pack: a client that sends
	// command lines without end is cut off, not buffered.
	in = &phaseLimit{r: in, left: maxRequestBytes}
	br := bufio.NewReaderSize(in, 64<<10)
	req, shallow, err := DecodeRequest(br)
	if req == nil || err != nil {
		return res, err // nil, nil: the client had nothing to push
	}
	in.(*phaseLimit).left = -1 // the pack has its own limit
	for _, c := range req.Commands {
		res.Commands = append(res.Commands, Command{Name: c.Name, Old: c.Old, New: c.New})
	}

	var mux *syncMuxer
	progress := errOut
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		mux = &syncMuxer{m: sideband.NewMuxer(sideband.Sideband64k, out)}
		progress = mux.channel(sideband.ProgressMessage)
	case req.Capabilities.Supports(capability.Sideband):
		mux = &syncMuxer{m: sideband.NewMuxer(sideband.Sideband, out)}
		progress = mux.channel(sideband.ProgressMessage)
	}

	// Decide what may proceed before reading a byte of the pack. A push
	// from a shallow clone is fine if this repository holds the commits
	// where the clone's history is cut: then nothing below them is missing.
	res.Statuses = make([]string, len(res.Commands))
	accepted, needPack := 0, false
	cut := false
	for _, h := range shallow {
		if _, err := object.GetCommit(r.st, h); err != nil {
			cut = true
			break
		}
	}
	for i, c := range res.Commands {
		needPack = needPack || !c.IsDelete()
		res.Statuses[i] = r.check(c, cut, opts.Check)
		if res.Statuses[i] == "" {
			accepted++
		}
	}

	unpack := statusOK
	var newPacks []string
	if needPack {
		pack := &limitReader{r: br, left: opts.MaxPackBytes}
		if accepted == 0 {
			_, err = io.Copy(io.Discard, pack)
		} else {
			before := r.packFiles()
			err = packfile.UpdateObjectStorage(r.st, pack)
			newPacks = r.newFiles(before)
		}
		res.PackBytes = pack.n
		if err != nil {
			r.removeFiles(newPacks)
			unpack = err.Error()
			if errors.Is(err, ErrTooLarge) {
				unpack = "push larger than " + sizeString(opts.MaxPackBytes)
				fmt.Fprintf(progress, " !     This push is larger than the server's limit of %s.\n", sizeString(opts.MaxPackBytes))
			}
			for i := range res.Statuses {
				if res.Statuses[i] == "" {
					res.Statuses[i] = "unpacker error"
				}
			}
		}
	}
	res.Receive = time.Since(start)

	moved := false
	for i, c := range res.Commands {
		if res.Statuses[i] != "" {
			continue
		}
		res.Statuses[i] = r.apply(ctx, c, progress, opts.Deploy, &res)
		moved = moved || (res.Statuses[i] == statusOK && c.Old != c.New)
	}
	if !moved {
		r.removeFiles(newPacks) // quarantine: nothing references these objects
	}

	if req.Capabilities.Supports(capability.ReportStatus) {
		rs := packp.NewReportStatus()
		rs.UnpackStatus = unpack
		for i, c := range res.Commands {
			rs.CommandStatuses = append(rs.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: res.Statuses[i]})
		}
		if mux != nil {
			var buf bytes.Buffer
			if err := rs.Encode(&buf); err != nil {
				return res, err
			}
			if _, err := mux.write(sideband.PackData, buf.Bytes()); err != nil {
				return res, err
			}
		} else if err := rs.Encode(out); err != nil {
			return res, err
		}
	}
	if mux != nil {
		if err := pktline.NewEncoder(out).Flush(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// DecodeRequest reads the client's commands from br, leaving br at the
// start of the pack. It returns nil and no error for a lone flush-pkt (the
// client has nothing to push) or an immediate end of input. A push from a
// shallow clone starts with "shallow" lines, of which go-git's decoder
// reads only one; they are read here and returned as shallow.
func DecodeRequest(br *bufio.Reader) (req *packp.ReferenceUpdateRequest, shallow []plumbing.Hash, err error) {
	for {
		head, err := br.Peek(4)
		if err == io.EOF && len(head) == 0 && shallow == nil {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read request: %w", err)
		}
		if string(head) == "0000" && shallow == nil {
			_, err := br.Discard(4)
			return nil, nil, err
		}
		line, err := br.Peek(4 + len("shallow "))
		if err != nil || string(line[4:]) != "shallow " {
			break
		}
		n, err := strconv.ParseUint(string(head), 16, 16)
		if err != nil || n < uint64(4+len("shallow ")+40) || n > pktline.MaxPayloadSize+4 {
			return nil, nil, fmt.Errorf("read request: bad pkt-line length %q", head)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil, nil, fmt.Errorf("read request: %w", err)
		}
		hex := strings.TrimSpace(string(payload[4+len("shallow "):]))
		if !plumbing.IsHash(hex) {
			return nil, nil, fmt.Errorf("read request: bad shallow line %q", payload)
		}
		if len(shallow) >= maxShallow {
			return nil, nil, errors.New("read request: too many shallow lines")
		}
		shallow = append(shallow, plumbing.NewHash(hex))
	}
	req = packp.NewReferenceUpdateRequest()
	if err := req.Decode(br); err != nil {
		return nil, nil, fmt.Errorf("read request: %w", err)
	}
	for _, c := range req.Commands {
		if err := validRef(c.Name); err != nil {
			return nil, nil, fmt.Errorf("read request: %w", err)
		}
	}
	return req, shallow, nil
}

// maxShallow bounds the shallow lines of one push.
const maxShallow = 10000

func (r *Repo) advertise(w io.Writer, agent string) error {
	ar := packp.NewAdvRefs()
	caps := ar.Capabilities
	for _, c := range []capability.Capability{capability.ReportStatus, capability.DeleteRefs,
		capability.OFSDelta, capability.Sideband64k, capability.Sideband, "no-thin"} {
		if err := caps.Set(c); err != nil {
			return err
		}
	}
	if agent != "" {
		if err := caps.Set(capability.Agent, agent); err != nil {
			return err
		}
	}
	refs, err := r.st.IterReferences()
	if err != nil {
		return err
	}
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && strings.HasPrefix(string(ref.Name()), "refs/") {
			return ar.AddReference(ref)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return ar.Encode(w)
}

// check decides whether c may proceed: "" or the reason it may not.
func (r *Repo) check(c Command, shallow bool, policy func(Command) string) string {
	if shallow {
		return "shallow clone: run git fetch --unshallow, then push again"
	}
	if policy != nil {
		if reason := policy(c); reason != "" {
			return reason
		}
	}
	cur, err := r.Ref(c.Name)
	if err != nil {
		return "cannot read " + string(c.Name)
	}
	if cur != c.Old {
		return "stale info: fetch first"
	}
	return ""
}

// apply deploys c and moves its reference; it returns the command's status.
func (r *Repo) apply(ctx context.Context, c Command, progress io.Writer, deploy func(context.Context, Command, io.Writer) error, res *Result) string {
	if c.Old == c.New {
		return statusOK
	}
	if !c.IsDelete() {
		if _, err := object.GetCommit(r.st, c.New); err != nil {
			return "not a commit"
		}
		if err := r.checkTrees(c.Old, c.New); err != nil {
			fmt.Fprintf(progress, " !     %v\n", err)
			fmt.Fprintf(progress, " !     paas refuses what git fsck refuses: duplicate names, \".\", \"..\", \".git\", names with \"/\".\n")
			if errors.Is(err, ErrBadTree) {
				return "invalid tree"
			}
			return "cannot read the pushed trees"
		}
		if deploy != nil {
			t := time.Now()
			err := deploy(ctx, c, progress)
			res.Deploy += time.Since(t)
			if err != nil {
				return DeployFailed
			}
		}
	}
	t := time.Now()
	defer func() { res.Update += time.Since(t) }()
	if err := r.setRef(c.Name, c.Old, c.New); err != nil {
		return "failed to update ref"
	}
	if !c.IsDelete() && strings.HasPrefix(string(c.Name), "refs/heads/") {
		// A clone checks out what HEAD names: keep it on a branch that exists.
		if target, err := r.headTarget(); err == nil && target != c.Name {
			if h, err := r.Ref(target); err == nil && h.IsZero() {
				_ = r.setHead(c.Name)
			}
		}
	}
	return statusOK
}

func (r *Repo) packDir() string { return filepath.Join(r.dir, "objects", "pack") }

// packFiles lists objects/pack.
func (r *Repo) packFiles() map[string]bool {
	names := map[string]bool{}
	entries, _ := os.ReadDir(r.packDir())
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

// newFiles lists the files of objects/pack that are not in before,
// including temporary files go-git leaves after a failed unpack.
func (r *Repo) newFiles(before map[string]bool) []string {
	var added []string
	entries, _ := os.ReadDir(r.packDir())
	for _, e := range entries {
		if !before[e.Name()] {
			added = append(added, filepath.Join(r.packDir(), e.Name()))
		}
	}
	return added
}

func (r *Repo) removeFiles(paths []string) {
	for _, p := range paths {
		_ = os.Remove(p)
	}
}

// maxRequestBytes bounds the command lines of one push (about 8,000 refs).
const maxRequestBytes = 1 << 20

// phaseLimit fails once more than left bytes were read; left < 0: no limit.
type phaseLimit struct {
	r    io.Reader
	left int64
}

func (l *phaseLimit) Read(p []byte) (int, error) {
	if l.left == 0 {
		return 0, errors.New("too many commands in one push")
	}
	if l.left > 0 && int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	if l.left > 0 {
		l.left -= int64(n)
	}
	return n, err
}

// limitReader fails with ErrTooLarge once more than left bytes were read
// (left 0: no limit).
type limitReader struct {
	r    io.Reader
	left int64
	n    int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.left > 0 && l.n > l.left {
		return n, ErrTooLarge
	}
	return n, err
}

// syncMuxer lets build output, written from any goroutine, share the
// side-band with the report.
type syncMuxer struct {
	mu sync.Mutex
	m  *sideband.Muxer
}

func (s *syncMuxer) write(ch sideband.Channel, p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.WriteChannel(ch, p)
}

func (s *syncMuxer) channel(ch sideband.Channel) io.Writer { return channelWriter{s, ch} }

type channelWriter struct {
	s  *syncMuxer
	ch sideband.Channel
}

func (w channelWriter) Write(p []byte) (int, error) { return w.s.write(w.ch, p) }

// sizeString says n bytes in the largest unit that keeps it whole-ish.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
