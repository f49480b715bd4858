// Package gitreceive is the SSH server behind "git push paas main": public
// key authentication resolved to a user by the controller, per-app bare
// repositories, and a receive-pack that builds and releases before the
// ref moves, streaming build output back to the pusher.
//
// Not built yet: see the gitreceive issue.
package gitreceive
