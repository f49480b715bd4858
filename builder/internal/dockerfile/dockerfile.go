// Package dockerfile is the builder's Dockerfile front end: it parses a
// Dockerfile with BuildKit's parser and instructions packages and executes
// the stages the target needs on the image core, one cached step at a time,
// printing docker build-like progress.
package dockerfile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/opencontainers/go-digest"

	"paas/builder/internal/core"
	"paas/runtime/network"
)

// Error kinds; the builder's root package re-exports them.
var (
	// ErrInvalid is a Dockerfile or build context the builder cannot use:
	// a syntax error, an unsupported instruction, a missing COPY source.
	ErrInvalid = errors.New("invalid Dockerfile or build context")
	// ErrStepFailed is a RUN command that failed or timed out.
	ErrStepFailed = errors.New("build step failed")
)

// Error is a failed step, located in the Dockerfile.
type Error struct {
	File string // the Dockerfile's name in the context
	Line int    // 1-based; 0 if unknown
	Step string // the instruction as written, shortened
	Kind error  // ErrInvalid or ErrStepFailed, or nil for other failures
	Err  error
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Step != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Step, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

// Unwrap gives both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// Request is one Dockerfile build.
type Request struct {
	ContextDir string            // the build context, on the host
	Dockerfile string            // path in the context; "Dockerfile" if empty
	Target     string            // stage to build; the last if empty
	BuildArgs  map[string]string // values for ARGs the Dockerfile declares
	Output     io.Writer         // progress and step output; nil discards
	Limits     core.Limits       // per RUN step
	Network    *network.Network  // for RUN steps; nil: no network
	ResolvConf string            // host file for /etc/resolv.conf in RUN steps
	// Base resolves a FROM or COPY --from image name; if nil the store's
	// Load is used.
	Base func(ctx context.Context, name string) (core.State, error)
}

// Build runs the Dockerfile in req on s and returns the target stage's
// state; the caller commits it as an image. ctx must carry a lease.
func Build(ctx context.Context, s *core.Store, req Request) (core.State, error) {
	if req.Dockerfile == "" {
		req.Dockerfile = "Dockerfile"
	}
	if req.Output == nil {
		req.Output = io.Discard
	}
	if req.Base == nil {
		req.Base = func(ctx context.Context, name string) (core.State, error) {
			img, err := s.Load(ctx, name)
			return img.State, err
		}
	}
	b := &build{store: s, req: req, stageStates: map[int]core.State{}}
	if err := b.parse(); err != nil {
		return core.State{}, err
	}
	return b.run(ctx)
}

type build struct {
	store       *core.Store
	req         Request
	escape      rune
	stages      []instructions.Stage
	metaArgs    []instructions.ArgCommand
	ctxSource   source
	stageStates map[int]core.State
	step, steps int
}

func (b *build) invalid(line int, step string, format string, args ...any) error {
	return &Error{File: b.req.Dockerfile, Line: line, Step: step, Kind: ErrInvalid, Err: fmt.Errorf(format, args...)}
}

// parse reads the Dockerfile and the .dockerignore and splits the
// instructions into stages, reporting the first bad line.
func (b *build) parse() error {
	dfPath, err := source{root: b.req.ContextDir}.resolve(path.Clean("/" + filepath.ToSlash(b.req.Dockerfile))[1:])
	if err != nil {
		return &Error{File: b.req.Dockerfile, Kind: ErrInvalid, Err: errors.New("no such file in the build context")}
	}
	src, err := os.ReadFile(dfPath)
	if err != nil {
		return &Error{File: b.req.Dockerfile, Kind: ErrInvalid, Err: err}
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		line := 0
		var le *parser.LocationError
		if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
			line = le.Locations[0][0].Start.Line
		}
		return b.invalid(line, "", "%v", unwrapLocation(err))
	}
	b.escape = res.EscapeToken
	for _, n := range res.AST.Children {
		step := shorten(n.Original)
		cmd, err := instructions.ParseInstruction(n)
		if err != nil {
			var unknown *instructions.UnknownInstructionError
			if errors.As(err, &unknown) {
				return b.invalid(n.StartLine, step, "unknown instruction %s", strings.ToUpper(unknown.Instruction))
			}
			return b.invalid(n.StartLine, step, "%v", unwrapLocation(err))
		}
		switch c := cmd.(type) {
		case *instructions.Stage:
			b.stages = append(b.stages, *c)
		case *instructions.ArgCommand:
			if len(b.stages) == 0 {
				b.metaArgs = append(b.metaArgs, *c)
				continue
			}
			b.stages[len(b.stages)-1].AddCommand(c)
		case instructions.Command:
			if len(b.stages) == 0 {
				return b.invalid(n.StartLine, step, "%s before the first FROM", strings.ToUpper(c.Name()))
			}
			if err := supported(c); err != nil {
				return b.invalid(n.StartLine, step, "%v", err)
			}
			b.stages[len(b.stages)-1].AddCommand(c)
		default:
			return b.invalid(n.StartLine, step, "unexpected instruction")
		}
	}
	if len(b.stages) == 0 {
		return b.invalid(0, "", "no FROM instruction")
	}
	ignore, err := readIgnore(b.req.ContextDir)
	if err != nil {
		return &Error{File: ".dockerignore", Kind: ErrInvalid, Err: err}
	}
	b.ctxSource = source{root: b.req.ContextDir, ignore: ignore}
	return nil
}

// supported rejects instructions and flags the builder does not implement,
// before anything runs.
func supported(c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.RunCommand:
		if len(c.FlagsUsed) > 0 {
			return fmt.Errorf("RUN --%s is not supported", c.FlagsUsed[0])
		}
		if len(c.Files) > 0 {
			return errors.New("RUN with a here-document is not supported")
		}
	case *instructions.CopyCommand:
		switch {
		case c.Link:
			return errors.New("COPY --link is not supported")
		case c.Parents:
			return errors.New("COPY --parents is not supported")
		case len(c.ExcludePatterns) > 0:
			return errors.New("COPY --exclude is not supported")
		case len(c.SourceContents) > 0:
			return errors.New("COPY with a here-document is not supported")
		}
	case *instructions.AddCommand:
		switch {
		case c.Link:
			return errors.New("ADD --link is not supported")
		case c.Checksum != "" || c.KeepGitDir != nil:
			return errors.New("ADD of remote sources is not supported")
		case len(c.ExcludePatterns) > 0:
			return errors.New("ADD --exclude is not supported")
		case len(c.SourceContents) > 0:
			return errors.New("ADD with a here-document is not supported")
		}
	case *instructions.CmdCommand:
		if len(c.Files) > 0 {
			return errors.New("CMD with a here-document is not supported")
		}
	case *instructions.EntrypointCommand:
		if len(c.Files) > 0 {
			return errors.New("ENTRYPOINT with a here-document is not supported")
		}
	case *instructions.EnvCommand, *instructions.ArgCommand, *instructions.WorkdirCommand,
		*instructions.UserCommand, *instructions.ExposeCommand, *instructions.LabelCommand,
		*instructions.ShellCommand, *instructions.StopSignalCommand, *instructions.MaintainerCommand:
	default:
		return fmt.Errorf("%s is not supported", strings.ToUpper(c.Name()))
	}
	return nil
}

// unwrapLocation strips BuildKit's own "dockerfile parse error on line N"
// wrapping, since Error says where.
func unwrapLocation(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "dockerfile parse error on line") && i > 0 {
		return errors.New(msg[i+2:])
	}
	return err
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func lineOf(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// stageIndex finds a stage by name (case-insensitive) or number, among the
// stages before before.
func (b *build) stageIndex(name string, before int) (int, bool) {
	for i := 0; i < before && i < len(b.stages); i++ {
		if b.stages[i].Name != "" && strings.EqualFold(b.stages[i].Name, name) {
			return i, true
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < before {
		return n, true
	}
	return 0, false
}

// metaEnv is the ARGs declared before the first FROM, with build args.
func (b *build) metaEnv() map[string]string {
	m := map[string]string{}
	for _, a := range b.metaArgs {
		for _, kv := range a.Args {
			if v, ok := b.req.BuildArgs[kv.Key]; ok {
				m[kv.Key] = v
			} else if kv.Value != nil {
				m[kv.Key] = *kv.Value
			}
		}
	}
	return m
}

// baseName expands the stage's FROM argument with the meta ARGs.
func (b *build) baseName(i int) (string, error) {
	lex := shell.NewLex(b.escape)
	name, _, err := lex.ProcessWord(b.stages[i].BaseName, envGetter(nil, b.metaEnv()))
	if err != nil {
		return "", b.invalid(lineOf(b.stages[i].Location), shorten(b.stages[i].SourceCode), "%v", err)
	}
	if name == "" {
		return "", b.invalid(lineOf(b.stages[i].Location), shorten(b.stages[i].SourceCode), "FROM names no image")
	}
	return name, nil
}

// needed marks the stages the target depends on, through FROM and
// COPY --from.
func (b *build) needed(target int) (map[int]bool, error) {
	need := map[int]bool{}
	var visit func(i int) error
	visit = func(i int) error {
		if need[i] {
			return nil
		}
		need[i] = true
		base, err := b.baseName(i)
		if err != nil {
			return err
		}
		if j, ok := b.stageIndex(base, i); ok {
			if err := visit(j); err != nil {
				return err
			}
		}
		for _, c := range b.stages[i].Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				if j, ok := b.stageIndex(cp.From, i); ok {
					if err := visit(j); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return need, visit(target)
}

func (b *build) run(ctx context.Context) (core.State, error) {
	target := len(b.stages) - 1
	if b.req.Target != "" {
		i, ok := b.stageIndex(b.req.Target, len(b.stages))
		if !ok {
			return core.State{}, &Error{File: b.req.Dockerfile, Kind: ErrInvalid, Err: fmt.Errorf("target stage %q not found", b.req.Target)}
		}
		target = i
	}
	need, err := b.needed(target)
	if err != nil {
		return core.State{}, err
	}
	for i := range b.stages {
		if need[i] {
			b.steps += 1 + len(b.stages[i].Commands)
		}
	}
	for i := 0; i <= target; i++ {
		if !need[i] {
			continue
		}
		st, err := b.runStage(ctx, i)
		if err != nil {
			return core.State{}, err
		}
		b.stageStates[i] = st
	}
	return b.stageStates[target], nil
}

// stage is the state of the stage being built.
type stage struct {
	index  int
	st     core.State
	args   map[string]string // ARGs in scope
	argSeq []string          // in declaration order
	shell  []string
	cmdSet bool // CMD set in this stage (so ENTRYPOINT keeps it)
}

func (b *build) printf(format string, args ...any) {
	fmt.Fprintf(b.req.Output, format, args...)
}

func (b *build) runStage(ctx context.Context, i int) (core.State, error) {
	s := b.stages[i]
	b.step++
	b.printf("Step %d/%d : %s\n", b.step, b.steps, shorten(s.SourceCode))
	name, err := b.baseName(i)
	if err != nil {
		return core.State{}, err
	}
	var base core.State
	switch j, isStage := b.stageIndex(name, i); {
	case isStage:
		base = b.stageStates[j]
	case strings.EqualFold(name, "scratch"):
		base = core.Empty()
	default:
		base, err = b.req.Base(ctx, name)
		if err != nil {
			kind := error(nil)
			if core.IsNotFound(err) {
				kind = ErrInvalid
				err = fmt.Errorf("image %q not found (build or import it first)", name)
			}
			return core.State{}, &Error{File: b.req.Dockerfile, Line: lineOf(s.Location), Step: shorten(s.SourceCode), Kind: kind, Err: err}
		}
	}
	st := &stage{index: i, st: base.Clone(), args: map[string]string{}, shell: []string{"/bin/sh", "-c"}}
	b.printf(" ---> %s\n", shortID(st.st))
	for _, c := range s.Commands {
		b.step++
		line := lineOf(c.Location())
		text := shorten(fmt.Sprint(c))
		b.printf("Step %d/%d : %s\n", b.step, b.steps, text)
		start := time.Now()
		cached, err := b.dispatch(ctx, st, c, line, text)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return core.State{}, err
			}
			return core.State{}, &Error{File: b.req.Dockerfile, Line: line, Step: text, Err: err}
		}
		if cached {
			b.printf(" ---> Using cache\n")
		}
		b.printf(" ---> %s %s\n", shortID(st.st), time.Since(start).Round(time.Millisecond))
	}
	return st.st, nil
}

func shortID(st core.State) string {
	c := st.ChainID()
	if c == "" {
		return "(empty)"
	}
	return c.Encoded()[:12]
}

// env is what words of the stage's instructions expand with: the image's
// environment over the ARGs in scope.
func (st *stage) envGetter() shell.EnvGetter {
	return envGetter(st.st.Config.Config.Env, st.args)
}

func envGetter(env []string, args map[string]string) shell.EnvGetter {
	var all []string
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		all = append(all, k+"="+args[k])
	}
	return shell.EnvsFromSlice(append(all, env...))
}

// dispatch executes one instruction. cached reports a step served from the
// cache.
func (b *build) dispatch(ctx context.Context, st *stage, c instructions.Command, line int, text string) (cached bool, err error) {
	lex := shell.NewLex(b.escape)
	expand := func(word string) (string, error) {
		w, _, err := lex.ProcessWord(word, st.envGetter())
		return w, err
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := c.(*instructions.RunCommand); !isRun {
			if err := ex.Expand(expand); err != nil {
				return false, b.invalid(line, text, "%v", err)
			}
		}
	}
	cfg := &st.st.Config.Config
	switch c := c.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.ArgCommand:
		meta := b.metaEnv()
		for _, kv := range c.Args {
			v, ok := b.req.BuildArgs[kv.Key]
			if !ok && kv.Value != nil {
				v, ok = *kv.Value, true
			}
			if !ok {
				v, ok = meta[kv.Key]
			}
			if !ok {
				continue // declared without a value: unset, as in docker
			}
			if _, seen := st.args[kv.Key]; !seen {
				st.argSeq = append(st.argSeq, kv.Key)
			}
			st.args[kv.Key] = v
		}
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			p = path.Join("/", cfg.WorkingDir, p)
		}
		cfg.WorkingDir = path.Clean(p)
		return b.workdirStep(ctx, st, line, text)
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.ExposeCommand:
		for _, p := range c.Ports {
			words, err := lex.ProcessWords(p, st.envGetter())
			if err != nil {
				return false, b.invalid(line, text, "%v", err)
			}
			for _, w := range words {
				port, proto, _ := strings.Cut(w, "/")
				if proto == "" {
					proto = "tcp"
				}
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
					return false, b.invalid(line, text, "invalid port %q", w)
				}
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = map[string]struct{}{}
				}
				cfg.ExposedPorts[port+"/"+proto] = struct{}{}
			}
		}
	case *instructions.LabelCommand:
		for _, kv := range c.Labels {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		st.st.Config.Author = c.Maintainer
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.ShellCommand:
		st.shell = append([]string(nil), c.Shell...)
	case *instructions.CmdCommand:
		cfg.Cmd = st.argv(c.ShellDependantCmdLine)
		st.cmdSet = true
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = st.argv(c.ShellDependantCmdLine)
		if !st.cmdSet {
			cfg.Cmd = nil
		}
	case *instructions.RunCommand:
		return b.runStep(ctx, st, st.argv(c.ShellDependantCmdLine), line, text)
	case *instructions.CopyCommand:
		from, err := expand(c.From)
		if err != nil {
			return false, b.invalid(line, text, "%v", err)
		}
		return b.copyStep(ctx, st, copyArgs{srcs: c.SourcePaths, dest: c.DestPath, from: from, chown: c.Chown, chmod: c.Chmod}, line, text)
	case *instructions.AddCommand:
		for _, src := range c.SourcePaths {
			if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
				return false, b.invalid(line, text, "ADD of remote sources is not supported: %s", src)
			}
		}
		return b.copyStep(ctx, st, copyArgs{srcs: c.SourcePaths, dest: c.DestPath, chown: c.Chown, chmod: c.Chmod, add: true}, line, text)
	default:
		return false, b.invalid(line, text, "%s is not supported", strings.ToUpper(c.Name()))
	}
	return false, nil
}

// argv is a RUN, CMD or ENTRYPOINT command line: the exec form as is, the
// shell form through the stage's SHELL.
func (st *stage) argv(c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string(nil), c.CmdLine...)
	}
	return append(append([]string(nil), st.shell...), strings.Join(c.CmdLine, " "))
}

func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k != key {
			out = append(out, e)
		}
	}
	return append(out, key+"="+value)
}

// cacheKey hashes what a step's result depends on.
func cacheKey(parent core.State, parts ...any) digest.Digest {
	h := sha256.New()
	fmt.Fprintf(h, "paas-step-v1\nparent %s\n", parent.ChainID())
	enc := json.NewEncoder(h)
	for _, p := range parts {
		_ = enc.Encode(p)
	}
	return digest.NewDigest(digest.SHA256, h)
}

func (b *build) runStep(ctx context.Context, st *stage, argv []string, line int, text string) (bool, error) {
	if len(argv) == 0 {
		return false, b.invalid(line, text, "RUN needs a command")
	}
	cfg := st.st.Config.Config
	env := append([]string(nil), cfg.Env...)
	for _, k := range st.argSeq {
		if !hasEnv(env, k) {
			env = append(env, k+"="+st.args[k])
		}
	}
	key := cacheKey(st.st, "RUN", argv, env, cfg.User, cfg.WorkingDir)
	createdBy := "RUN " + strings.Join(argv, " ")
	if next, ok, err := b.store.CacheGet(ctx, key, st.st, createdBy); err != nil {
		return false, err
	} else if ok {
		st.st = next
		return true, nil
	}
	next, err := b.store.Run(ctx, st.st, core.RunSpec{
		Args: argv, Env: env, Dir: cfg.WorkingDir, User: cfg.User,
		Output: b.req.Output, Limits: b.req.Limits, Network: b.req.Network, ResolvConf: b.req.ResolvConf,
		CreatedBy: createdBy,
	})
	if err != nil {
		var ee *core.ExitError
		var le *core.LimitError
		switch {
		case errors.As(err, &ee):
			return false, &Error{File: b.req.Dockerfile, Line: line, Step: text, Kind: ErrStepFailed,
				Err: fmt.Errorf("the command returned a non-zero code: %d", ee.Status)}
		case errors.As(err, &le), errors.Is(err, core.ErrTimeout):
			return false, &Error{File: b.req.Dockerfile, Line: line, Step: text, Kind: ErrStepFailed, Err: err}
		case ctx.Err() != nil:
			return false, &Error{File: b.req.Dockerfile, Line: line, Step: text, Err: ctx.Err()}
		case strings.Contains(err.Error(), "executable file not found") || strings.Contains(err.Error(), "no such file or directory"):
			return false, &Error{File: b.req.Dockerfile, Line: line, Step: text, Kind: ErrStepFailed, Err: errors.New(runcReason(err))}
		}
		return false, err
	}
	if err := b.store.CachePut(ctx, key, next); err != nil {
		return false, err
	}
	st.st = next
	return false, nil
}

// runcReason keeps the readable end of a runc start error.
func runcReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "exec: "); i >= 0 {
		msg = msg[i+len("exec: "):]
	}
	return strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(msg), ":")), ": unknown")
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}

type copyArgs struct {
	srcs         []string
	dest         string
	from         string
	chown, chmod string
	add          bool
}

func (b *build) copyStep(ctx context.Context, st *stage, a copyArgs, line int, text string) (bool, error) {
	cfg := st.st.Config.Config
	dest := a.dest
	if !path.IsAbs(dest) {
		dest = path.Join("/", cfg.WorkingDir, dest)
		if strings.HasSuffix(a.dest, "/") || a.dest == "." {
			dest += "/"
		}
	}
	var mode *fs.FileMode
	if a.chmod != "" {
		m, err := strconv.ParseUint(a.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return false, b.invalid(line, text, "invalid --chmod=%s: only octal modes are supported", a.chmod)
		}
		fm := fs.FileMode(m)
		mode = &fm
	}
	// The source tree: the context, or another stage's or image's root.
	withSource := func(f func(src source, fromChain string) error) error {
		if a.from == "" {
			return f(b.ctxSource, "")
		}
		var from core.State
		if j, ok := b.stageIndex(a.from, st.index); ok {
			from = b.stageStates[j]
		} else {
			var err error
			from, err = b.req.Base(ctx, a.from)
			if err != nil {
				if core.IsNotFound(err) {
					return b.invalid(line, text, "--from=%s names no earlier stage and no image", a.from)
				}
				return err
			}
		}
		return b.store.View(ctx, from, func(root string) error {
			return f(source{root: root}, "chain "+string(from.ChainID()))
		})
	}
	kind := "COPY"
	if a.add {
		kind = "ADD"
	}
	var cached bool
	err := withSource(func(src source, fromChain string) error {
		var rels []string
		for _, s := range a.srcs {
			m, err := src.match(s)
			if err != nil {
				return b.invalid(line, text, "%v", err)
			}
			rels = append(rels, m...)
		}
		destDir := strings.HasSuffix(dest, "/")
		if len(rels) > 1 && !destDir && !b.isDir(ctx, st, dest) {
			return b.invalid(line, text, "with more than one source file, the destination must be a directory and end with a /")
		}
		h := sha256.New()
		if fromChain != "" {
			fmt.Fprintln(h, fromChain, rels)
		} else if err := src.digest(h, rels); err != nil {
			return err
		}
		key := cacheKey(st.st, kind, rels, dest, a.chown, a.chmod, fmt.Sprintf("%x", h.Sum(nil)))
		createdBy := fmt.Sprintf("%s %s %s", kind, strings.Join(a.srcs, " "), a.dest)
		next, ok, err := b.store.CacheGet(ctx, key, st.st, createdBy)
		if err != nil {
			return err
		}
		if ok {
			st.st, cached = next, true
			return nil
		}
		next, err = b.store.AddLayer(ctx, st.st, createdBy, func(root string) error {
			own, err := parseChown(root, a.chown)
			if err != nil {
				return b.invalid(line, text, "%v", err)
			}
			c := copier{root: root, owner: own, mode: mode, keepOwner: fromChain != ""}
			isDir := destDir || c.isDir(dest)
			for _, rel := range rels {
				if a.add && fromChain == "" {
					hp, err := src.resolve(rel)
					if err != nil {
						return err
					}
					if fi, err := os.Stat(hp); err == nil && fi.Mode().IsRegular() && isArchive(hp) {
						if err := c.extract(hp, dest); err != nil {
							return fmt.Errorf("unpack %s: %w", rel, err)
						}
						continue
					}
				}
				if err := c.copyTree(src, rel, dest, isDir); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := b.store.CachePut(ctx, key, next); err != nil {
			return err
		}
		st.st = next
		return nil
	})
	return cached, err
}

// workdirStep creates the working directory, as docker does, when it does
// not exist: a layer of its own, owned by the stage's USER.
func (b *build) workdirStep(ctx context.Context, st *stage, line int, text string) (bool, error) {
	cfg := st.st.Config.Config
	if b.isDir(ctx, st, cfg.WorkingDir) {
		return false, nil
	}
	key := cacheKey(st.st, "WORKDIR", cfg.WorkingDir, cfg.User)
	createdBy := "WORKDIR " + cfg.WorkingDir
	if next, ok, err := b.store.CacheGet(ctx, key, st.st, createdBy); err != nil {
		return false, err
	} else if ok {
		st.st = next
		return true, nil
	}
	next, err := b.store.AddLayer(ctx, st.st, createdBy, func(root string) error {
		var own *owner
		if cfg.User != "" {
			var err error
			if own, err = parseChown(root, cfg.User); err != nil {
				return b.invalid(line, text, "USER %s: %v", cfg.User, err)
			}
		}
		_, err := copier{root: root, owner: own}.mkdirAll(cfg.WorkingDir)
		return err
	})
	if err != nil {
		return false, err
	}
	if err := b.store.CachePut(ctx, key, next); err != nil {
		return false, err
	}
	st.st = next
	return false, nil
}

// isDir reports whether p is a directory in the stage's current root.
func (b *build) isDir(ctx context.Context, st *stage, p string) bool {
	var dir bool
	_ = b.store.View(ctx, st.st, func(root string) error {
		dir = copier{root: root}.isDir(p)
		return nil
	})
	return dir
}
