package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"paas/controller"
)

func (r *runner) addBuildpackCommands(root *cobra.Command) {
	var name string
	add := r.appFlag(&cobra.Command{
		Use:   "buildpacks:add PATH",
		Short: "Add a custom buildpack (a directory or a tar archive of one) to an app",
		Long: `Add a custom Cloud Native Buildpack to an app: PATH is its directory (with
buildpack.toml, bin/detect and bin/build) or a tar archive (gzipped or not) of
one. An app's custom buildpacks replace the built-in ones for pushes without a
Dockerfile: they run in the order added, and all must pass detection. Adding a
buildpack of a name the app has replaces it in place. The next push uses it.`,
		GroupID: groupApps,
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arch, err := buildpackArchive(args[0])
			if err != nil {
				return err
			}
			n := name
			if n == "" {
				n = buildpackName(args[0])
			}
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			bp, err := c.AddBuildpack(cmd.Context(), app, controller.NewBuildpack{Name: n, Archive: arch})
			if err != nil {
				return err
			}
			r.printf("Added buildpack %s to %s (position %d, %d bytes); the next push uses it\n", bp.Name, app, bp.Position, bp.Size)
			return nil
		},
	})
	add.Flags().StringVar(&name, "name", "", "name of the buildpack in the app (default: from PATH)")
	root.AddCommand(
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "buildpacks",
			Aliases: []string{"buildpacks:list"},
			Short:   "List an app's custom buildpacks (none: the built-in ones detect the app)",
			GroupID: groupApps,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				bs, err := c.Buildpacks(cmd.Context(), app)
				if err != nil {
					return err
				}
				return r.show(bs, func(w io.Writer, colour bool) error {
					if len(bs) == 0 {
						_, err := fmt.Fprintf(w, "%s has no custom buildpacks: the built-in ones detect it\n", app)
						return err
					}
					t := newTable("#", "name", "size", "sha256", "added")
					for _, b := range bs {
						t.add(fmt.Sprint(b.Position), b.Name, fmt.Sprint(b.Size), b.SHA256[:12], b.CreatedAt.Format("2006-01-02 15:04"))
					}
					return t.render(w, colour)
				})
			},
		})),
		add,
		r.appFlag(&cobra.Command{
			Use:     "buildpacks:remove NAME",
			Short:   "Remove a custom buildpack from an app",
			GroupID: groupApps,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.RemoveBuildpack(cmd.Context(), app, args[0]); err != nil {
					return err
				}
				r.printf("Removed buildpack %s from %s\n", args[0], app)
				return nil
			},
		}),
	)
}

var nonNameRE = regexp.MustCompile(`[^a-z0-9._-]+`)

// buildpackName makes a buildpack's name from its path: the base name
// without archive suffixes, lower case.
func buildpackName(p string) string {
	n := strings.ToLower(filepath.Base(filepath.Clean(p)))
	for _, suf := range []string{".tar.gz", ".tgz", ".tar"} {
		n = strings.TrimSuffix(n, suf)
	}
	n = strings.Trim(nonNameRE.ReplaceAllString(n, "-"), "-._")
	if n == "" {
		n = "buildpack"
	}
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// buildpackArchive is the file at p if it is one (a tar archive, the
// server checks it), else a gzipped tar of the directory p: its
// directories and regular files, executable bits kept.
func buildpackArchive(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if fi.Size() > controller.MaxBuildpackBytes {
			return nil, fmt.Errorf("%s is larger than %d bytes", p, controller.MaxBuildpackBytes)
		}
		return os.ReadFile(p)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(p, f)
		if err != nil || rel == "." {
			return err
		}
		if d.Name() == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.IsDir() && !info.Mode().IsRegular() {
			return nil // symlinks and devices stay behind
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		defer fh.Close()
		_, err = io.Copy(tw, fh)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() > controller.MaxBuildpackBytes {
		return nil, fmt.Errorf("%s makes an archive larger than %d bytes", p, controller.MaxBuildpackBytes)
	}
	return buf.Bytes(), nil
}
