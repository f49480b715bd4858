// Package runtime is the only code, beside the builder, that talks to
// containerd (and, as instances arrive, to CNI). Everything it creates
// lives in one containerd namespace, "paas" by default.
//
// This first cut connects and reports whether containerd answers; running
// instances comes with the controller runtime.
package runtime

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

// DefaultAddress is containerd's usual socket.
const DefaultAddress = "/run/containerd/containerd.sock"

// DefaultNamespace is the containerd namespace paas works in.
const DefaultNamespace = "paas"

// Runtime is a connection to one containerd. It dials lazily and redials
// after a failure, so a containerd that starts after paas, or restarts, is
// picked up. It is safe for concurrent use.
type Runtime struct {
	address   string
	namespace string

	mu     sync.Mutex
	client *containerd.Client
}

// New returns a Runtime for the containerd at address, working in
// namespace. It does not dial yet.
func New(address, namespace string) *Runtime {
	if address == "" {
		address = DefaultAddress
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &Runtime{address: address, namespace: namespace}
}

// Address is containerd's socket.
func (r *Runtime) Address() string { return r.address }

func (r *Runtime) dial() (*containerd.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return r.client, nil
	}
	c, err := containerd.New(r.address,
		containerd.WithDefaultNamespace(r.namespace),
		containerd.WithTimeout(3*time.Second))
	if err != nil {
		return nil, err
	}
	r.client = c
	return c, nil
}

// Ping asks containerd for its version: the proof that it answers.
func (r *Runtime) Ping(ctx context.Context) (string, error) {
	if _, err := os.Stat(r.address); err != nil {
		return "", fmt.Errorf("containerd is unreachable: no socket at %s (is containerd running?)", r.address)
	}
	c, err := r.dial()
	if err != nil {
		return "", fmt.Errorf("containerd is unreachable at %s: %w", r.address, err)
	}
	v, err := c.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd is unreachable at %s: %w", r.address, err)
	}
	return v.Version, nil
}

// Close closes the connection, if any.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client == nil {
		return nil
	}
	err := r.client.Close()
	r.client = nil
	return err
}
