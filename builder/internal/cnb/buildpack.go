package cnb

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Buildpack is a CNB buildpack: a tree holding buildpack.toml, bin/detect
// and bin/build.
type Buildpack struct {
	ID      string
	Version string
	Name    string
	API     string
	fsys    fs.FS
}

func (b *Buildpack) String() string { return b.ID + "@" + b.Version }

// escaped is the buildpack's directory name under the layers directory.
func (b *Buildpack) escaped() string { return strings.ReplaceAll(b.ID, "/", "_") }

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)

// Load reads the buildpack at the root of fsys.
func Load(fsys fs.FS) (*Buildpack, error) {
	b, err := fs.ReadFile(fsys, "buildpack.toml")
	if err != nil {
		return nil, fmt.Errorf("%w: buildpack.toml: %v", ErrInvalid, err)
	}
	var desc struct {
		API       string `toml:"api"`
		Buildpack struct {
			ID      string `toml:"id"`
			Version string `toml:"version"`
			Name    string `toml:"name"`
		} `toml:"buildpack"`
	}
	if err := toml.Unmarshal(b, &desc); err != nil {
		return nil, fmt.Errorf("%w: buildpack.toml: %v", ErrInvalid, err)
	}
	bp := &Buildpack{ID: desc.Buildpack.ID, Version: desc.Buildpack.Version, Name: desc.Buildpack.Name, API: desc.API, fsys: fsys}
	if !idRE.MatchString(bp.ID) || strings.Contains(bp.ID, "..") {
		return nil, fmt.Errorf("%w: buildpack.toml: bad buildpack id %q", ErrInvalid, bp.ID)
	}
	for _, bin := range []string{"bin/detect", "bin/build"} {
		if fi, err := fs.Stat(fsys, bin); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: buildpack %s has no %s", ErrInvalid, bp.ID, bin)
		}
	}
	return bp, nil
}

// Member is a buildpack in a group. An optional member may fail detection
// without failing its group.
type Member struct {
	*Buildpack
	Optional bool
}

// Group is buildpacks that detect and build together, in order.
type Group []Member

// LoadOrder reads order.toml at the root of fsys and the buildpacks it
// names, each from the directory of fsys that holds the buildpack of that
// id.
func LoadOrder(fsys fs.FS) ([]Group, error) {
	b, err := fs.ReadFile(fsys, "order.toml")
	if err != nil {
		return nil, fmt.Errorf("%w: order.toml: %v", ErrInvalid, err)
	}
	var desc struct {
		Order []struct {
			Group []struct {
				ID       string `toml:"id"`
				Optional bool   `toml:"optional"`
			} `toml:"group"`
		} `toml:"order"`
	}
	if err := toml.Unmarshal(b, &desc); err != nil {
		return nil, fmt.Errorf("%w: order.toml: %v", ErrInvalid, err)
	}
	byID := map[string]*Buildpack{}
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, d := range ents {
		if !d.IsDir() {
			continue
		}
		sub, err := fs.Sub(fsys, d.Name())
		if err != nil {
			return nil, err
		}
		if _, err := fs.Stat(sub, "buildpack.toml"); err != nil {
			continue
		}
		bp, err := Load(sub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Name(), err)
		}
		byID[bp.ID] = bp
	}
	var order []Group
	for _, o := range desc.Order {
		var g Group
		for _, m := range o.Group {
			bp, ok := byID[m.ID]
			if !ok {
				return nil, fmt.Errorf("%w: order.toml names buildpack %q, which is not there", ErrInvalid, m.ID)
			}
			g = append(g, Member{Buildpack: bp, Optional: m.Optional})
		}
		if len(g) > 0 {
			order = append(order, g)
		}
	}
	return order, nil
}

// layerMeta is a <layer>.toml: the flags in [types] (buildpack API 0.6 and
// later) or at the top level (earlier APIs).
type layerMeta struct {
	Types struct {
		Launch bool `toml:"launch"`
		Build  bool `toml:"build"`
		Cache  bool `toml:"cache"`
	} `toml:"types"`
	Launch bool `toml:"launch"`
	Build  bool `toml:"build"`
	Cache  bool `toml:"cache"`
}

func (m layerMeta) launch() bool { return m.Launch || m.Types.Launch }
func (m layerMeta) build() bool  { return m.Build || m.Types.Build }
func (m layerMeta) cache() bool  { return m.Cache || m.Types.Cache }

// launchTOML is a buildpack's launch.toml.
type launchTOML struct {
	Processes []struct {
		Type    string `toml:"type"`
		Command any    `toml:"command"` // a string, or an argv (API 0.9 and later)
		Args    []string
		Default bool `toml:"default"`
	} `toml:"processes"`
}
