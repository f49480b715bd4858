package serve

import (
	"context"

	"paas/builder"
	"paas/controller/server"
)

// builderAdapter lets the controller's Deploy use the builder.
type builderAdapter struct{ b *builder.Builder }

func (a builderAdapter) Build(ctx context.Context, req server.BuildRequest) (server.BuildResult, error) {
	res, err := a.b.Build(ctx, builder.Request{App: req.App, Tag: req.Tag, Tar: req.Source, BuildArgs: req.BuildArgs, Output: req.Output})
	if err != nil {
		return server.BuildResult{}, err
	}
	return server.BuildResult{Image: res.Image, Digest: res.Digest.String(), ProcessTypes: res.ProcessTypes}, nil
}

func (a builderAdapter) Prune(ctx context.Context, app string, keep []string) ([]string, error) {
	return a.b.Prune(ctx, app, keep)
}
