package api

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path"
	"regexp"
	"strings"

	"paas/controller"
	"paas/controller/internal/store"
)

var buildpackNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CheckBuildpack checks an uploaded custom buildpack: a name the CLI and
// URLs can carry, and a tar archive (gzipped or not) that holds
// buildpack.toml, bin/detect and bin/build at its root or in its only
// top-level directory, with no path leaving it, none twice and none
// through a symlink of the archive (which the builder's extractor would
// refuse or overwrite, never follow). The builder checks the
// rest (buildpack.toml's content) when it runs it.
func CheckBuildpack(nb controller.NewBuildpack) error {
	if !buildpackNameRE.MatchString(nb.Name) {
		return controller.Errorf(controller.ErrInvalid, "buildpack name %q: use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", nb.Name)
	}
	if len(nb.Archive) == 0 {
		return controller.Errorf(controller.ErrInvalid, "buildpack %s: the archive is empty", nb.Name)
	}
	if len(nb.Archive) > controller.MaxBuildpackBytes {
		return controller.Errorf(controller.ErrInvalid, "buildpack %s: the archive is larger than %d bytes", nb.Name, controller.MaxBuildpackBytes)
	}
	var r io.Reader = bytes.NewReader(nb.Archive)
	if bytes.HasPrefix(nb.Archive, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return controller.Errorf(controller.ErrInvalid, "buildpack %s: not a gzipped tar archive: %v", nb.Name, err)
		}
		r = io.LimitReader(zr, 64*controller.MaxBuildpackBytes) // unpacked size bound
	}
	files := map[string]bool{}
	tops := map[string]bool{}
	seen := map[string]bool{}  // every entry's name, cleaned
	links := map[string]bool{} // the symlinks' names
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return controller.Errorf(controller.ErrInvalid, "buildpack %s: not a tar archive of its directory: %v", nb.Name, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if strings.HasPrefix(path.Clean(h.Name), "../") || path.Clean(h.Name) == ".." {
			return controller.Errorf(controller.ErrInvalid, "buildpack %s: %q leaves the archive", nb.Name, h.Name)
		}
		if name == "" {
			continue
		}
		if seen[name] {
			return controller.Errorf(controller.ErrInvalid, "buildpack %s: %q appears twice in the archive", nb.Name, h.Name)
		}
		seen[name] = true
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if links[d] {
				return controller.Errorf(controller.ErrInvalid, "buildpack %s: %q goes through the symbolic link %q", nb.Name, h.Name, d)
			}
		}
		if h.Typeflag == tar.TypeSymlink {
			links[name] = true
		}
		tops[strings.SplitN(name, "/", 2)[0]] = true
		if h.Typeflag == tar.TypeReg {
			files[name] = true
		}
	}
	prefix := ""
	if !files["buildpack.toml"] && len(tops) == 1 {
		for t := range tops {
			prefix = t + "/"
		}
	}
	for _, f := range []string{"buildpack.toml", "bin/detect", "bin/build"} {
		if !files[prefix+f] {
			return controller.Errorf(controller.ErrInvalid, "buildpack %s: the archive has no %s (want buildpack.toml, bin/detect and bin/build at its root)", nb.Name, f)
		}
	}
	return nil
}

func (s *server) listBuildpacks(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	bs, err := s.opt.Store.Buildpacks(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bs)
	return nil
}

func (s *server) addBuildpack(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	// The archive travels as base64 in JSON: a larger bound than other
	// bodies.
	var in controller.NewBuildpack
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, controller.MaxBuildpackBytes*4/3+4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return controller.Errorf(controller.ErrInvalid, "buildpack archive is larger than %d bytes", controller.MaxBuildpackBytes)
		}
		return controller.Errorf(controller.ErrInvalid, "invalid JSON body: %v", err)
	}
	if err := CheckBuildpack(in); err != nil {
		return err
	}
	b, err := s.opt.Store.AddBuildpack(r.Context(), who, r.PathValue("app"), in.Name, in.Archive)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func (s *server) removeBuildpack(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	if err := s.opt.Store.RemoveBuildpack(r.Context(), who, r.PathValue("app"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
