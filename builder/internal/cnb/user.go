package cnb

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"paas/builder/internal/core"
)

// appUser is the user buildpacks run as when the image's config names
// none: paas's stacks (and the busybox test image) have it, uid 1000.
const appUser = "app"

// user is who a container runs as.
type user struct {
	owner
	spec string // uid:gid for RunSpec.User and the image config
	home string
}

// lookupUser picks the non-root user of an image: the config's User if it
// is not root, else the user "app" if /etc/passwd has one, else root.
func lookupUser(ctx context.Context, s *core.Store, st core.State) (user, error) {
	want := st.Config.Config.User
	if want == "0" || want == "root" || strings.HasPrefix(want, "0:") || strings.HasPrefix(want, "root:") {
		want = ""
	}
	u := user{spec: "0:0", home: "/root"}
	err := s.View(ctx, st, func(root string) error {
		name, group, _ := strings.Cut(want, ":")
		if name == "" {
			name = appUser
		}
		ent, ok := passwd(root, name)
		if !ok {
			uid, err := strconv.Atoi(name)
			if err != nil {
				if want == "" {
					return nil // no app user: root it is
				}
				return fmt.Errorf("user %q is not in /etc/passwd", name)
			}
			ent = passwdEntry{uid: uid, gid: uid, home: "/"}
		}
		u.uid, u.gid, u.home = ent.uid, ent.gid, ent.home
		if group != "" {
			gid, err := strconv.Atoi(group)
			if err != nil {
				gid, ok = groupID(root, group)
				if !ok {
					return fmt.Errorf("group %q is not in /etc/group", group)
				}
			}
			u.gid = gid
		}
		u.spec = fmt.Sprintf("%d:%d", u.uid, u.gid)
		return nil
	})
	return u, err
}

type passwdEntry struct {
	uid, gid int
	home     string
}

func passwd(root, name string) (passwdEntry, bool) {
	var out passwdEntry
	found := false
	scan(filepath.Join(root, "etc", "passwd"), func(f []string) bool {
		if len(f) < 6 || f[0] != name {
			return true
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return true
		}
		out, found = passwdEntry{uid: uid, gid: gid, home: f[5]}, true
		return false
	})
	return out, found
}

func groupID(root, name string) (int, bool) {
	gid, found := 0, false
	scan(filepath.Join(root, "etc", "group"), func(f []string) bool {
		if len(f) < 3 || f[0] != name {
			return true
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			return true
		}
		gid, found = n, true
		return false
	})
	return gid, found
}

// scan calls f with the colon-separated fields of each line of a file
// until f returns false. The file is read as it is in the image; a symlink
// pointing out of it is not followed.
func scan(p string, f func([]string) bool) {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	file, err := os.Open(p)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if !f(strings.Split(sc.Text(), ":")) {
			return
		}
	}
}
