package controller

import (
	"context"
	"time"
)

// Buildpack is one of an app's custom buildpacks. When an app has any,
// they replace the built-in detection order for pushes without a
// Dockerfile: they form one group, run in Position order, all of which
// must pass detection.
type Buildpack struct {
	Name      string    `json:"name"`     // identifies it within the app
	Position  int       `json:"position"` // 1 runs first
	SHA256    string    `json:"sha256"`   // of the archive
	Size      int64     `json:"size"`     // of the archive, bytes
	CreatedAt time.Time `json:"created_at"`
}

// NewBuildpack adds a custom buildpack: a tar archive (gzipped or not) of
// its directory (buildpack.toml, bin/detect, bin/build), at most
// MaxBuildpackBytes. A buildpack of the same name is replaced in place;
// a new one goes last.
type NewBuildpack struct {
	Name    string `json:"name"`
	Archive []byte `json:"archive"` // base64 in JSON
}

// MaxBuildpackBytes bounds a custom buildpack's archive.
const MaxBuildpackBytes = 4 << 20

// Buildpacks lists an app's custom buildpacks in the order they run.
func (c *Client) Buildpacks(ctx context.Context, app string) ([]Buildpack, error) {
	var bs []Buildpack
	return bs, c.do(ctx, "GET", appPath(app, "buildpacks"), nil, &bs)
}

// AddBuildpack uploads a custom buildpack for an app.
func (c *Client) AddBuildpack(ctx context.Context, app string, nb NewBuildpack) (Buildpack, error) {
	var out Buildpack
	return out, c.do(ctx, "POST", appPath(app, "buildpacks"), nb, &out)
}

// RemoveBuildpack removes an app's custom buildpack by name.
func (c *Client) RemoveBuildpack(ctx context.Context, app, name string) error {
	return c.do(ctx, "DELETE", appPath(app, "buildpacks", name), nil, nil)
}
