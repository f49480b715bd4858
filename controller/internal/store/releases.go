package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"gorm.io/gorm"

	"paas/controller"
)

// releaseAAD binds a release's sealed config to the app and version.
func releaseAAD(appID int64, version int) []byte {
	return fmt.Appendf(nil, "release/%d/%d", appID, version)
}

// currentRelease returns an app's newest release that did not fail, or nil.
func currentRelease(tx *gorm.DB, appID int64) (*release, error) {
	var rs []release
	if err := tx.Where("app_id = ? AND status <> ?", appID, controller.ReleaseFailed).Order("version DESC").Limit(1).Find(&rs).Error; err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return &rs[0], nil
}

// newRelease records release r of app a, numbered after the app's newest
// release, with config cfg sealed into it. New process types join the
// formation: web at one instance, as Heroku does, others at zero.
func (s *Store) newRelease(tx *gorm.DB, who Actor, a app, r release, cfg map[string]string) (controller.Release, error) {
	var last int
	if err := tx.Model(&release{}).Where("app_id = ?", a.ID).Select("COALESCE(MAX(version), 0)").Scan(&last).Error; err != nil {
		return controller.Release{}, err
	}
	r.AppID = a.ID
	r.Version = last + 1
	r.Status = controller.ReleasePending
	r.CreatedBy = who.Name
	r.CreatedAt = now()
	if r.ProcessTypes == "" {
		r.ProcessTypes = "{}"
	}
	plain, err := json.Marshal(cfg)
	if err != nil {
		return controller.Release{}, err
	}
	if r.Config, err = s.sealer.Seal(plain, releaseAAD(a.ID, r.Version)); err != nil {
		return controller.Release{}, err
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kb, _ := json.Marshal(keys)
	r.ConfigKeys = string(kb)
	if err := tx.Create(&r).Error; err != nil {
		if isDuplicate(err) {
			return controller.Release{}, controller.Errorf(controller.ErrConflict, "another change to %s made release v%d at the same time; try again", a.Name, r.Version)
		}
		return controller.Release{}, err
	}
	types := map[string]string{}
	_ = json.Unmarshal([]byte(r.ProcessTypes), &types)
	for t := range types {
		p := process{AppID: a.ID, Type: t}
		if t == "web" {
			p.Quantity = 1
		}
		if err := tx.Where("app_id = ? AND type = ?", a.ID, t).FirstOrCreate(&p).Error; err != nil {
			return controller.Release{}, err
		}
	}
	return releaseOut(r), nil
}

func releaseOut(r release) controller.Release {
	out := controller.Release{
		Version: r.Version, Image: r.Image, Digest: r.Digest, Status: r.Status, Reason: r.Reason,
		Description: r.Description, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		ProcessTypes: map[string]string{}, ConfigKeys: []string{},
	}
	if r.BuildID != nil {
		out.Build = *r.BuildID
	}
	_ = json.Unmarshal([]byte(r.ProcessTypes), &out.ProcessTypes)
	_ = json.Unmarshal([]byte(r.ConfigKeys), &out.ConfigKeys)
	return out
}

func (s *Store) releaseConfig(r release) (map[string]string, error) {
	pt, err := s.sealer.Open(r.Config, releaseAAD(r.AppID, r.Version))
	if err != nil {
		return nil, fmt.Errorf("config of release v%d: %w", r.Version, err)
	}
	cfg := map[string]string{}
	if err := json.Unmarshal(pt, &cfg); err != nil {
		return nil, fmt.Errorf("config of release v%d: %w", r.Version, err)
	}
	return cfg, nil
}

func findApp(tx *gorm.DB, name string) (app, error) {
	var a app
	if err := tx.Where("name = ?", name).Take(&a).Error; err != nil {
		return app{}, notFound(err, "no app named %s", name)
	}
	return a, nil
}

// Releases lists an app's releases, newest first, without their config.
func (s *Store) Releases(ctx context.Context, appName string) ([]controller.Release, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return nil, err
	}
	var rs []release
	if err := db.Where("app_id = ?", a.ID).Order("version DESC").Find(&rs).Error; err != nil {
		return nil, err
	}
	out := make([]controller.Release, 0, len(rs))
	for _, r := range rs {
		out = append(out, releaseOut(r))
	}
	return out, nil
}

// Release returns one release with its config.
func (s *Store) Release(ctx context.Context, appName string, version int) (controller.Release, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return controller.Release{}, err
	}
	var r release
	if err := db.Where("app_id = ? AND version = ?", a.ID, version).Take(&r).Error; err != nil {
		return controller.Release{}, notFound(err, "%s has no release v%d", appName, version)
	}
	out := releaseOut(r)
	if out.Config, err = s.releaseConfig(r); err != nil {
		return controller.Release{}, err
	}
	return out, nil
}

// CreateRelease releases an image with the app's current config.
func (s *Store) CreateRelease(ctx context.Context, who Actor, appName string, nr controller.NewRelease, buildID int64) (controller.Release, error) {
	for t := range nr.ProcessTypes {
		if err := controller.ValidateProcessType(t); err != nil {
			return controller.Release{}, err
		}
	}
	pt, err := json.Marshal(nr.ProcessTypes)
	if err != nil {
		return controller.Release{}, err
	}
	if nr.ProcessTypes == nil {
		pt = []byte("{}")
	}
	desc := nr.Description
	if desc == "" {
		desc = "Deploy " + nr.Image
	}
	var out controller.Release
	err = s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		cfg, err := s.loadConfig(tx, a.ID)
		if err != nil {
			return err
		}
		r := release{Image: nr.Image, Digest: nr.Digest, ProcessTypes: string(pt), Description: desc}
		if buildID != 0 {
			r.BuildID = &buildID
		}
		if out, err = s.newRelease(tx, who, a, r, cfg); err != nil {
			return err
		}
		if err := touch(tx, a); err != nil {
			return err
		}
		return audit(tx, who, "release.create", appName, fmt.Sprintf("v%d %s", out.Version, nr.Image))
	})
	return out, err
}

// Rollback makes a new release with the image AND the config of an
// earlier one, and makes that config the app's config again. Version 0
// means the newest good release before the current one.
func (s *Store) Rollback(ctx context.Context, who Actor, appName string, version int) (controller.Release, error) {
	var out controller.Release
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		cur, err := currentRelease(tx, a.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return controller.Errorf(controller.ErrInvalid, "%s has no release to roll back", appName)
		}
		var target release
		if version == 0 {
			var rs []release
			if err := tx.Where("app_id = ? AND version < ? AND status <> ?", a.ID, cur.Version, controller.ReleaseFailed).
				Order("version DESC").Limit(1).Find(&rs).Error; err != nil {
				return err
			}
			if len(rs) == 0 {
				return controller.Errorf(controller.ErrInvalid, "%s has no release before v%d to roll back to", appName, cur.Version)
			}
			target = rs[0]
		} else {
			if err := tx.Where("app_id = ? AND version = ?", a.ID, version).Take(&target).Error; err != nil {
				return notFound(err, "%s has no release v%d", appName, version)
			}
		}
		if target.Status == controller.ReleaseFailed {
			return controller.Errorf(controller.ErrInvalid, "release v%d failed to deploy; pick another release", target.Version)
		}
		if target.Version == cur.Version {
			return controller.Errorf(controller.ErrInvalid, "v%d is the current release already", target.Version)
		}
		cfg, err := s.releaseConfig(target)
		if err != nil {
			return err
		}
		if err := s.replaceConfig(tx, a.ID, cfg); err != nil {
			return err
		}
		out, err = s.newRelease(tx, who, a, release{
			Image: target.Image, Digest: target.Digest, BuildID: target.BuildID,
			ProcessTypes: target.ProcessTypes, Description: fmt.Sprintf("Rollback to v%d", target.Version),
		}, cfg)
		if err != nil {
			return err
		}
		if err := touch(tx, a); err != nil {
			return err
		}
		return audit(tx, who, "release.rollback", appName, fmt.Sprintf("v%d from v%d", out.Version, target.Version))
	})
	return out, err
}

// SetReleaseStatus records the outcome of a release's rollout.
func (s *Store) SetReleaseStatus(ctx context.Context, appName string, version int, status, reason string) error {
	switch status {
	case controller.ReleasePending, controller.ReleaseDeploying, controller.ReleaseSucceeded, controller.ReleaseFailed:
	default:
		return controller.Errorf(controller.ErrInvalid, "unknown release status %q", status)
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		res := tx.Model(&release{}).Where("app_id = ? AND version = ?", a.ID, version).
			Updates(map[string]any{"status": status, "reason": reason})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return controller.Errorf(controller.ErrNotFound, "%s has no release v%d", appName, version)
		}
		return nil
	})
}

func buildOut(b build, appName string) controller.Build {
	return controller.Build{ID: b.ID, App: appName, Rev: b.Rev, Status: b.Status, Image: b.Image, Digest: b.Digest, CreatedBy: b.CreatedBy, CreatedAt: b.CreatedAt, FinishedAt: b.FinishedAt}
}

// CreateBuild records the start of a build of revision rev.
func (s *Store) CreateBuild(ctx context.Context, who Actor, appName, rev string) (controller.Build, error) {
	var out controller.Build
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		b := build{AppID: a.ID, Rev: rev, Status: controller.BuildRunning, CreatedBy: who.Name, CreatedAt: now()}
		if err := tx.Create(&b).Error; err != nil {
			return err
		}
		out = buildOut(b, appName)
		return audit(tx, who, "build.create", appName, fmt.Sprintf("build %d of %s", b.ID, rev))
	})
	return out, err
}

// FinishBuild records a build's outcome and, on success, its image.
func (s *Store) FinishBuild(ctx context.Context, id int64, status, image, digest string) (controller.Build, error) {
	if status != controller.BuildSucceeded && status != controller.BuildFailed {
		return controller.Build{}, controller.Errorf(controller.ErrInvalid, "a build finishes as succeeded or failed, not %q", status)
	}
	var out controller.Build
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var b build
		if err := forUpdate(tx).Take(&b, id).Error; err != nil {
			return notFound(err, "no build %d", id)
		}
		if b.FinishedAt != nil {
			return controller.Errorf(controller.ErrConflict, "build %d has finished already", id)
		}
		t := now()
		b.Status, b.Image, b.Digest, b.FinishedAt = status, image, digest, &t
		if err := tx.Save(&b).Error; err != nil {
			return err
		}
		var a app
		if err := tx.Take(&a, b.AppID).Error; err != nil {
			return err
		}
		out = buildOut(b, a.Name)
		return nil
	})
	return out, err
}

// Builds lists an app's builds, newest first.
func (s *Store) Builds(ctx context.Context, appName string) ([]controller.Build, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return nil, err
	}
	var bs []build
	if err := db.Where("app_id = ?", a.ID).Order("id DESC").Find(&bs).Error; err != nil {
		return nil, err
	}
	out := make([]controller.Build, 0, len(bs))
	for _, b := range bs {
		out = append(out, buildOut(b, appName))
	}
	return out, nil
}

// Build returns one of an app's builds.
func (s *Store) Build(ctx context.Context, appName string, id int64) (controller.Build, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return controller.Build{}, err
	}
	var b build
	if err := db.Where("app_id = ? AND id = ?", a.ID, id).Take(&b).Error; err != nil {
		return controller.Build{}, notFound(err, "%s has no build %d", appName, id)
	}
	return buildOut(b, appName), nil
}

// Audit returns audit events, newest first.
func (s *Store) Audit(ctx context.Context, q controller.AuditQuery) ([]controller.AuditEvent, error) {
	db := s.db.WithContext(ctx).Model(&auditEvent{})
	if q.App != "" {
		db = db.Where("app = ?", q.App)
	}
	if q.Actor != "" {
		db = db.Where("actor = ?", q.Actor)
	}
	if q.Before > 0 {
		db = db.Where("id < ?", q.Before)
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var evs []auditEvent
	if err := db.Order("id DESC").Limit(limit).Find(&evs).Error; err != nil {
		return nil, err
	}
	out := make([]controller.AuditEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, controller.AuditEvent{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, App: e.App, Detail: e.Detail, RemoteAddr: e.RemoteAddr})
	}
	return out, nil
}

// Deployment is what one app should be running: its current release
// (newest not failed) with that release's config, the formation and the
// app's domains. The scheduler works from these.
type Deployment struct {
	App       string
	Release   int
	Status    string
	Image     string
	Config    map[string]string
	Processes []controller.Process // with commands from the release
	Domains   []string             // custom domains
	Checks    []controller.HealthCheck
	Certs     []controller.TLSCert
	// The app's HTTP settings for the router.
	ForceHTTPS   bool
	MaxBodyBytes int64
}

// Deployments returns the deployment of every app that has a release.
func (s *Store) Deployments(ctx context.Context) ([]Deployment, error) {
	var out []Deployment
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var apps []app
		if err := tx.Order("name").Find(&apps).Error; err != nil {
			return err
		}
		for _, a := range apps {
			cur, err := currentRelease(tx, a.ID)
			if err != nil {
				return err
			}
			if cur == nil {
				continue
			}
			cfg, err := s.releaseConfig(*cur)
			if err != nil {
				return err
			}
			procs, err := formation(tx, a.ID)
			if err != nil {
				return err
			}
			var domains []string
			if err := tx.Model(&domain{}).Where("app_id = ?", a.ID).Order("name").Pluck("name", &domains).Error; err != nil {
				return err
			}
			checks, err := healthChecks(tx, a.ID)
			if err != nil {
				return err
			}
			certs, err := s.tlsCerts(tx, a.ID)
			if err != nil {
				return err
			}
			out = append(out, Deployment{App: a.Name, Release: cur.Version, Status: cur.Status, Image: cur.Image, Config: cfg, Processes: procs, Domains: domains, Checks: checks, Certs: certs, ForceHTTPS: a.ForceHTTPS, MaxBodyBytes: a.MaxBodyBytes})
		}
		return nil
	})
	return out, err
}
