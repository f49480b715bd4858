package gitreceive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/go-git/go-git/v5/plumbing"
	gossh "golang.org/x/crypto/ssh"

	"paas/controller"
	"paas/gitreceive/internal/applock"
	"paas/gitreceive/internal/command"
	"paas/gitreceive/internal/repo"
)

// Server is the SSH git server. Make one with New; it serves any number of
// listeners, each with Serve, and is safe for concurrent use.
type Server struct {
	opts   Options
	ctl    Controller
	log    *slog.Logger
	repos  repo.Store
	locks  applock.Locks
	signer gossh.Signer

	sessions atomic.Int64 // handlers running, of every listener
}

// shutdownWait bounds how long Serve waits, after closing the connections,
// for their handlers to notice (a deploy that ignores its ctx).
const shutdownWait = 30 * time.Second

// New checks opts, and loads or creates the host key.
func New(opts Options) (*Server, error) {
	if opts.Controller == nil {
		return nil, errors.New("gitreceive: no Controller")
	}
	if opts.ReposDir == "" || opts.HostKeyFile == "" {
		return nil, errors.New("gitreceive: ReposDir and HostKeyFile are required")
	}
	if opts.MaxPushBytes == 0 {
		opts.MaxPushBytes = DefaultMaxPushBytes
	}
	if opts.MaxPushBytes < 0 {
		opts.MaxPushBytes = 0 // no limit, as the receive side reads it
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxTimeout <= 0 {
		opts.MaxTimeout = DefaultMaxTimeout
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.GitPath == "" {
		opts.GitPath = "git"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	signer, err := loadOrCreateHostKey(opts.HostKeyFile)
	if err != nil {
		return nil, fmt.Errorf("gitreceive: %w", err)
	}
	return &Server{opts: opts, ctl: opts.Controller, log: log, repos: repo.Store{Dir: opts.ReposDir}, signer: signer}, nil
}

// HostKeyFingerprint is the SHA256 fingerprint of the server's host key, as
// ssh-keygen -l prints it.
func (s *Server) HostKeyFingerprint() string { return gossh.FingerprintSHA256(s.signer.PublicKey()) }

// HostPublicKey is the server's host key in authorized_keys form, for a
// known_hosts line.
func (s *Server) HostPublicKey() string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.signer.PublicKey())))
}

// CreateRepo makes the empty repository of a new app; it is a no-op if the
// repository exists. app must be a valid app name.
func (s *Server) CreateRepo(app string) error {
	if err := controller.ValidateAppName(app); err != nil {
		return err
	}
	return s.repos.Create(app)
}

// RemoveRepo deletes the repository of app, waiting until ctx ends for a
// push in progress to finish.
func (s *Server) RemoveRepo(ctx context.Context, app string) error {
	if err := controller.ValidateAppName(app); err != nil {
		return err
	}
	unlock, err := s.locks.Lock(ctx, app)
	if err != nil {
		return fmt.Errorf("remove repository of %s: %w", app, err)
	}
	defer unlock()
	return s.repos.Remove(app)
}

// ListenAndServe listens on addr (":2222") and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gitreceive: %w", err)
	}
	return s.Serve(ctx, l)
}

// Serve accepts connections on l until ctx ends, then closes l and every
// connection, which cancels the deploys they started, and waits a while for
// their handlers to return. It returns nil after ctx ends, or the error
// that stopped it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &ssh.Server{
		Handler:                    s.handle,
		PublicKeyHandler:           s.publicKey,
		KeyboardInteractiveHandler: s.refuseKeys,
		HostSigners:                []ssh.Signer{s.signer},
		Version:                    "paas",
		IdleTimeout:                s.opts.IdleTimeout,
		MaxTimeout:                 s.opts.MaxTimeout,
		// Sessions only: no port forwarding, no subsystems (sftp), no agent.
		ChannelHandlers:   map[string]ssh.ChannelHandler{"session": ssh.DefaultSessionHandler},
		RequestHandlers:   map[string]ssh.RequestHandler{},
		SubsystemHandlers: map[string]ssh.SubsystemHandler{},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			srv.Close()
		case <-stop:
		}
	}()
	err := srv.Serve(l)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		for deadline := time.Now().Add(shutdownWait); s.sessions.Load() > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				s.log.Warn("sessions still running after shutdown", "sessions", s.sessions.Load(), "waited", shutdownWait)
				break
			}
		}
		return nil
	}
	return fmt.Errorf("gitreceive: %w", err)
}

// ctxKey keys the values this package keeps in a connection's context.
type ctxKey int

const (
	keyAuth    ctxKey = iota // *auth of the accepted key
	keyRefused               // *[]string fingerprints refused
	keyTold                  // set once the refusal was explained
)

type auth struct {
	fingerprint string
	user        string
}

// publicKey accepts a key the controller knows. The first key accepted is
// the only one accepted on the connection: x/crypto may not call this again
// for the key a client finally signs with, so a later "query" of someone
// else's public key must not replace the user.
func (s *Server) publicKey(ctx ssh.Context, key ssh.PublicKey) bool {
	fp := gossh.FingerprintSHA256(key)
	if a, ok := ctx.Value(keyAuth).(*auth); ok {
		return a.fingerprint == fp
	}
	user, err := s.ctl.UserForKey(ctx, fp)
	if err != nil {
		refused, _ := ctx.Value(keyRefused).(*[]string)
		if refused == nil {
			refused = new([]string)
			ctx.SetValue(keyRefused, refused)
		}
		if len(*refused) < 8 {
			*refused = append(*refused, fp)
		}
		if errors.Is(err, controller.ErrNotFound) {
			s.log.Info("refused an unknown SSH key", "fingerprint", fp, "remote", ctx.RemoteAddr().String())
		} else {
			s.log.Error("resolve SSH key", "fingerprint", fp, "err", err)
		}
		return false
	}
	ctx.SetValue(keyAuth, &auth{fingerprint: fp, user: user})
	return true
}

// refuseKeys is offered as keyboard-interactive authentication only to say,
// in words, why the keys were refused; OpenSSH prints the instruction. It
// never succeeds.
func (s *Server) refuseKeys(ctx ssh.Context, challenge gossh.KeyboardInteractiveChallenge) bool {
	if ctx.Value(keyTold) != nil {
		return false // OpenSSH tries again; say it once
	}
	ctx.SetValue(keyTold, true)
	msg := "paas: none of your SSH keys is registered; add one with: paas keys:add ~/.ssh/id_ed25519.pub"
	if refused, _ := ctx.Value(keyRefused).(*[]string); refused != nil && len(*refused) > 0 {
		msg = fmt.Sprintf("paas: SSH key %s is not registered; add yours with: paas keys:add ~/.ssh/id_ed25519.pub", strings.Join(*refused, ", "))
	}
	_, _ = challenge("", msg, nil, nil)
	return false
}

// handle serves one session and sets its exit status, once.
func (s *Server) handle(sess ssh.Session) {
	s.sessions.Add(1)
	defer s.sessions.Add(-1)
	code := s.serve(sess)
	_ = sess.Exit(code)
}

func (s *Server) serve(sess ssh.Session) int {
	ctx := sess.Context()
	stderr := sess.Stderr()
	refuse := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "paas: "+format+"\n", args...)
		return 1
	}
	a, _ := ctx.Value(keyAuth).(*auth)
	if a == nil || sess.PublicKey() == nil || gossh.FingerprintSHA256(sess.PublicKey()) != a.fingerprint {
		return refuse("not authenticated")
	}
	log := s.log.With("user", a.user, "remote", sess.RemoteAddr().String())
	raw := sess.RawCommand()
	if strings.TrimSpace(raw) == "" {
		log.Info("refused a shell")
		return refuse("there is no shell here; deploy with: git push paas main")
	}
	cmd, err := command.Parse(raw)
	if err != nil {
		log.Info("refused a command", "err", err)
		return refuse("%v", err)
	}
	log = log.With("app", cmd.App, "service", cmd.Service)
	if err := s.ctl.CanPush(ctx, a.user, cmd.App); err != nil {
		switch {
		case errors.Is(err, controller.ErrNotFound):
			return refuse("there is no app named %s", cmd.App)
		case errors.Is(err, controller.ErrForbidden):
			return refuse("%s may not push to %s; its owner can add you with: paas access:add %s --app %s", a.user, cmd.App, a.user, cmd.App)
		}
		log.Error("check access", "err", err)
		return refuse("cannot check access to %s right now; try again later", cmd.App)
	}
	if cmd.Service == command.Run {
		return s.run(ctx, sess, log, a.user, cmd)
	}
	if err := s.repos.Create(cmd.App); err != nil {
		log.Error("create repository", "err", err)
		return refuse("internal error")
	}
	switch cmd.Service {
	case command.UploadPack:
		if err := repo.UploadPack(ctx, s.opts.GitPath, s.repos.Path(cmd.App), sess, sess, stderr); err != nil {
			log.Info("upload-pack", "err", err)
			return 1
		}
		return 0
	default:
		return s.receive(ctx, sess, log, a.user, cmd.App)
	}
}

// receive serves one push to app, under the app's lock.
func (s *Server) receive(ctx ssh.Context, sess ssh.Session, log *slog.Logger, user, app string) int {
	stderr := sess.Stderr()
	unlock, ok := s.locks.TryLock(app)
	if !ok {
		fmt.Fprintf(stderr, "paas: another push to %s is in progress; waiting for it to finish...\n", app)
		lctx, cancel := context.WithTimeout(ctx, s.opts.LockTimeout)
		stopKeepalive := s.keepalive(ctx)
		var err error
		unlock, err = s.locks.Lock(lctx, app)
		stopKeepalive()
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "paas: gave up waiting after %s for the push to %s before yours; try again later\n", s.opts.LockTimeout, app)
			return 1
		}
	}
	defer unlock()

	r, err := s.repos.Open(app)
	if err != nil {
		log.Error("open repository", "err", err)
		fmt.Fprintln(stderr, "paas: internal error")
		return 1
	}
	defer r.Close()

	deployBranch := plumbing.ReferenceName("")
	res, err := r.ReceivePack(ctx, sess, sess, stderr, repo.ReceiveOptions{
		MaxPackBytes: s.opts.MaxPushBytes,
		Agent:        "paas",
		Check: func(c repo.Command) string {
			reason := checkRef(c)
			if reason == "" && deployBranch != "" {
				reason = "push one of main and master at a time"
			}
			if reason == "" {
				deployBranch = c.Name
			}
			return reason
		},
		Deploy: func(ctx context.Context, c repo.Command, progress io.Writer) error {
			stop := s.keepalive(ctx)
			defer stop()
			return s.deploy(ctx, log, r, user, app, c, progress)
		},
	})
	if err != nil {
		log.Info("push failed", "err", err)
		fmt.Fprintf(stderr, "paas: push failed: %v\n", err)
		return 1
	}
	for i, c := range res.Commands {
		log.Info("push", "ref", c.Name.String(), "old", c.Old.String(), "new", c.New.String(), "status", res.Statuses[i],
			"pack_bytes", res.PackBytes, "receive", res.Receive, "deploy", res.Deploy, "update", res.Update)
	}
	return 0
}

// checkRef is the push policy: main or master only, never deleted.
func checkRef(c repo.Command) string {
	switch c.Name {
	case plumbing.Main, plumbing.Master:
		if c.IsDelete() {
			return fmt.Sprintf("deleting %s is not allowed; it is what runs", c.Name.Short())
		}
		return ""
	}
	if strings.HasPrefix(string(c.Name), "refs/heads/") {
		return "only main deploys; push with: git push paas HEAD:main"
	}
	return "only branch main can be pushed; push with: git push paas HEAD:main"
}

// errDeployDone ends the tar writer once Deploy stopped reading.
var errDeployDone = errors.New("deploy returned")

// deploy hands the tree of c.New to the controller.
func (s *Server) deploy(ctx context.Context, log *slog.Logger, r *repo.Repo, user, app string, c repo.Command, progress io.Writer) error {
	pr, pw := io.Pipe()
	tarDone := make(chan error, 1)
	go func() {
		err := r.WriteTar(ctx, pw, c.New)
		pw.CloseWithError(err)
		tarDone <- err
	}()
	rel, err := s.ctl.Deploy(ctx, DeployRequest{App: app, User: user, Rev: c.New.String(), Source: pr, Output: progress})
	pr.CloseWithError(errDeployDone)
	if tarErr := <-tarDone; tarErr != nil && !errors.Is(tarErr, errDeployDone) && !errors.Is(tarErr, io.ErrClosedPipe) {
		log.Error("write source tar", "rev", c.New.String(), "err", tarErr)
	}
	if err != nil {
		var msg string
		switch {
		case ctx.Err() != nil:
			msg = "cancelled"
		case isKind(err):
			msg = err.Error()
		default:
			msg = "the deploy failed; the server log has the details"
		}
		log.Info("deploy failed", "rev", c.New.String(), "err", err)
		fmt.Fprintf(progress, " !     %s\n", msg)
		return err
	}
	log.Info("deployed", "rev", c.New.String(), "release", rel.Version)
	return nil
}

func isKind(err error) bool {
	for _, k := range []error{controller.ErrNotFound, controller.ErrConflict, controller.ErrInvalid,
		controller.ErrUnauthorized, controller.ErrForbidden} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// keepalive keeps the connection of ctx from idling out while the server
// is busy on its behalf (waiting for a lock, deploying): every third of the
// idle timeout it sends a request the client must answer. It returns a
// function that stops it.
func (s *Server) keepalive(ctx context.Context) (stop func()) {
	conn, ok := ctx.Value(ssh.ContextKeyConn).(gossh.Conn)
	if !ok {
		return func() {}
	}
	done := make(chan struct{})
	go func() { // ends on stop, or when the connection does
		t := time.NewTicker(s.opts.IdleTimeout / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_, _, _ = conn.SendRequest("keepalive@openssh.com", true, nil)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// run serves "run APP [--] COMMAND": a one-off process attached to the
// session, with a terminal when the client asked for one.
func (s *Server) run(ctx ssh.Context, sess ssh.Session, log *slog.Logger, user string, cmd command.Command) int {
	r, ok := s.ctl.(Runner)
	if !ok {
		fmt.Fprintln(sess.Stderr(), "paas: this server cannot run commands")
		return 1
	}
	pty, winCh, isPty := sess.Pty()
	resize := make(chan [2]uint32, 4)
	if isPty {
		resize <- [2]uint32{uint32(pty.Window.Width), uint32(pty.Window.Height)}
		go func() {
			for w := range winCh {
				select {
				case resize <- [2]uint32{uint32(w.Width), uint32(w.Height)}:
				default:
				}
			}
		}()
	}
	log.Info("run", "command", cmd.Args, "tty", isPty)
	code, err := r.Run(ctx, RunRequest{App: cmd.App, User: user, Command: cmd.Args, TTY: isPty,
		Stdin: sess, Stdout: sess, Stderr: sess.Stderr(), Resize: resize})
	if err != nil {
		if isKind(err) {
			fmt.Fprintf(sess.Stderr(), "paas: %v\n", err)
		} else {
			log.Error("run", "err", err)
			fmt.Fprintln(sess.Stderr(), "paas: the run failed; the server log has the details")
		}
		return 1
	}
	return code
}
