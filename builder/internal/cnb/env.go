package cnb

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// env is an environment as KEY=value lines, in order.
type env []string

func (e env) get(key string) (string, bool) {
	for _, kv := range e {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}

// set replaces key's value where it is, or adds it at the end.
func (e env) set(key, value string) env {
	out := make(env, 0, len(e)+1)
	done := false
	for _, kv := range e {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			if !done {
				out = append(out, key+"="+value)
				done = true
			}
			continue
		}
		out = append(out, kv)
	}
	if !done {
		out = append(out, key+"="+value)
	}
	return out
}

func (e env) prepend(key, value, delim string) env {
	if old, ok := e.get(key); ok && old != "" {
		value += delim + old
	}
	return e.set(key, value)
}

func (e env) append(key, value, delim string) env {
	if old, ok := e.get(key); ok && old != "" {
		value = old + delim + value
	}
	return e.set(key, value)
}

// withLayer applies a layer to e as the CNB buildpack API says: its bin
// on PATH, its lib on LD_LIBRARY_PATH, then the files of its env/ and of
// env.<phase>/ ("build" or "launch"). host is the layer on the host, at is
// its path in the container.
func (e env) withLayer(host, at, phase string) env {
	if isDir(filepath.Join(host, "bin")) {
		e = e.prepend("PATH", at+"/bin", ":")
	}
	if isDir(filepath.Join(host, "lib")) {
		e = e.prepend("LD_LIBRARY_PATH", at+"/lib", ":")
	}
	for _, sub := range []string{"env", "env." + phase} {
		if isDir(filepath.Join(host, sub)) { // never through a symlink
			e = e.withEnvDir(filepath.Join(host, sub))
		}
	}
	return e
}

// withEnvDir applies the files of a layer's env directory: NAME or
// NAME.override sets, NAME.default sets when unset, NAME.prepend and
// NAME.append add with the delimiter in NAME.delim (none if missing).
func (e env) withEnvDir(dir string) env {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return e
	}
	names := make([]string, 0, len(ents))
	for _, d := range ents {
		if d.Type().IsRegular() {
			names = append(names, d.Name())
		}
	}
	sort.Strings(names)
	read := func(n string) string {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		return string(b)
	}
	for _, n := range names {
		key, op, _ := strings.Cut(n, ".")
		if key == "" || strings.ContainsAny(key, "= \n") {
			continue
		}
		val := read(n)
		delim := ""
		if fi, err := os.Lstat(filepath.Join(dir, key+".delim")); err == nil && fi.Mode().IsRegular() {
			delim = read(key + ".delim")
		}
		switch op {
		case "", "override":
			e = e.set(key, val)
		case "default":
			if _, ok := e.get(key); !ok {
				e = e.set(key, val)
			}
		case "prepend":
			e = e.prepend(key, val, delim)
		case "append":
			e = e.append(key, val, delim)
		}
	}
	return e
}
