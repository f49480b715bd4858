// Package gitreceive is the SSH server behind "git push paas main": public
// key authentication resolved to a user by the controller, per-app bare
// repositories, and a receive-pack that builds and releases before the
// ref moves, streaming build output back to the pusher.
//
// # What a connection may do
//
// A client authenticates with a public key whose SHA256 fingerprint the
// controller knows (Controller.UserForKey); any other key is refused at
// authentication, with a line naming the fingerprints it offered. The only
// exec requests served are
//
//	git-receive-pack '<app>.git'   git push
//	git-upload-pack  '<app>.git'   git clone, git fetch, git ls-remote
//
// where the path may also be '/<app>.git' or '<app>', and the user must be
// allowed to push to the app (Controller.CanPush). Shells, other commands,
// subsystems, port forwarding and paths that are not an app name get one
// line on stderr and exit status 1, and change nothing on disk.
//
// # A push
//
// Pushes to one app are serialized: a second push waits, with a message,
// for up to Options.LockTimeout, then gives up. Only refs/heads/main and
// refs/heads/master may be pushed (one of them per push), never deleted;
// force pushes are allowed. The pushed commit's tree goes to
// Controller.Deploy as a tar stream, and its output to the pusher as git
// progress ("remote: ..."). Only if Deploy succeeds does the branch move;
// otherwise git reports "[remote rejected] main -> main (deploy failed)",
// exits non-zero, and the objects of the push are removed again. Closing
// the connection (Ctrl-C on git push) cancels Deploy's context.
//
// # Implementation
//
// Receive-pack runs on go-git's plumbing (internal/repo): go-git's stock
// server session cannot serve real pushes (it closes the channel, fails on
// empty and delete-only pushes, has no hook between unpack and ref update,
// and cannot read thin packs, so no-thin is advertised). Upload-pack is the
// system git's, which reads only and speaks the negotiation a real "git
// fetch" needs; go-git's does not (see internal/repo.UploadPack). A push
// from a shallow clone is accepted when this repository holds the commits
// where the clone's history is cut, and refused otherwise.
//
// Repositories live in Options.ReposDir as <app>.git. They are made by
// CreateRepo, and lazily by the first push or clone of an app the controller
// knows, so an app created before this server ran still works.
package gitreceive
