package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"paas/builder"
	"paas/controller/server"
)

// builderAdapter lets the controller's Deploy use the builder.
type builderAdapter struct {
	b *builder.Builder
	// refuse, if set, is why every build is refused: the kernel cannot
	// contain it (see containment.refusal).
	refuse string
}

func (a builderAdapter) Build(ctx context.Context, req server.BuildRequest) (server.BuildResult, error) {
	if a.refuse != "" {
		return server.BuildResult{}, errors.New(a.refuse)
	}
	// The builder takes buildpacks as host paths: the app's archives go
	// into a directory of this build's own.
	var bps []string
	if len(req.Buildpacks) > 0 {
		dir, err := os.MkdirTemp("", "paas-app-buildpacks-")
		if err != nil {
			return server.BuildResult{}, err
		}
		defer os.RemoveAll(dir)
		for i, arch := range req.Buildpacks {
			p := filepath.Join(dir, fmt.Sprintf("%d.tar", i+1))
			if err := os.WriteFile(p, arch, 0o600); err != nil {
				return server.BuildResult{}, err
			}
			bps = append(bps, p)
		}
	}
	res, err := a.b.Build(ctx, builder.Request{App: req.App, Tag: req.Tag, Tar: req.Source, BuildArgs: req.BuildArgs, Buildpacks: bps, Output: req.Output})
	if err != nil {
		return server.BuildResult{}, err
	}
	return server.BuildResult{Image: res.Image, Digest: res.Digest.String(), ProcessTypes: res.ProcessTypes}, nil
}

func (a builderAdapter) Prune(ctx context.Context, app string, keep []string) ([]string, error) {
	return a.b.Prune(ctx, app, keep)
}

// hostCommand runs a program of the host with fixed arguments and returns
// its trimmed standard output ("" if it fails or is missing); the server
// asks the host's own tools for their settings with it.
type hostCommand func(ctx context.Context, name string, args ...string) string

func runHostCommand(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// hostDownloadDefaults fills the buildpacks' download settings the
// operator left empty from the host's own configuration: the Go proxy
// from GOPROXY; the npm registry from npm_config_registry, else the
// host's npm config (npm config get registry); the Python index from
// PIP_INDEX_URL, else the host's pip config (global.index-url). A value
// that is not an http(s) URL (npm's "undefined", an error) is left out.
func (s *Settings) hostDownloadDefaults(ctx context.Context, lookupEnv func(string) (string, bool), run hostCommand) {
	fill := func(dst *string, env string, cmd ...string) {
		if *dst != "" {
			return
		}
		v, _ := lookupEnv(env)
		if v == "" && len(cmd) > 0 {
			v = run(ctx, cmd[0], cmd[1:]...)
		}
		if env == "GOPROXY" || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
			*dst = v
		}
	}
	fill(&s.GoProxy, "GOPROXY")
	fill(&s.NPMRegistry, "npm_config_registry", "npm", "config", "get", "registry")
	fill(&s.PipIndexURL, "PIP_INDEX_URL", "pip3", "config", "get", "global.index-url")
}

// buildEnv is what buildpacks' bin/build gets from the settings: GOPROXY
// (Go), npm_config_registry (Node.js), PIP_INDEX_URL (Python).
func (s Settings) buildEnv() map[string]string {
	env := map[string]string{}
	for k, v := range map[string]string{"GOPROXY": s.GoProxy, "npm_config_registry": s.NPMRegistry, "PIP_INDEX_URL": s.PipIndexURL} {
		if v != "" {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	return env
}
