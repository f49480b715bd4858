package buildpacks

import (
	"embed"
	"io/fs"
)

//go:embed order.toml go node python procfile static
var files embed.FS

// FS returns the built-in buildpacks: order.toml at the root and one
// directory per buildpack, each with buildpack.toml and bin/.
func FS() fs.FS { return files }
