package store

import (
	"context"
	"encoding/json"
	"fmt"

	"gorm.io/gorm"

	"paas/controller"
)

// CertInfo is a parsed, checked certificate to store.
type CertInfo struct {
	controller.Cert
	CertPEM, KeyPEM string
}

func certAAD(appID int64, name string) []byte {
	return fmt.Appendf(nil, "cert/%d/%s", appID, name)
}

func certOut(c cert) controller.Cert {
	out := controller.Cert{Name: c.Name, Issuer: c.Issuer, NotAfter: c.NotAfter, CreatedAt: c.CreatedAt, Domains: []string{}}
	_ = json.Unmarshal([]byte(c.Domains), &out.Domains)
	return out
}

// Certs lists an app's certificates.
func (s *Store) Certs(ctx context.Context, appName string) ([]controller.Cert, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return nil, err
	}
	var rows []cert
	if err := db.Where("app_id = ?", a.ID).Order("name").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]controller.Cert, 0, len(rows))
	for _, c := range rows {
		out = append(out, certOut(c))
	}
	return out, nil
}

// AddCert stores a certificate for an app, replacing one of the same name.
func (s *Store) AddCert(ctx context.Context, who Actor, appName string, c CertInfo) (controller.Cert, error) {
	var out controller.Cert
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		sealed, err := s.sealer.Seal([]byte(c.KeyPEM), certAAD(a.ID, c.Name))
		if err != nil {
			return err
		}
		doms, _ := json.Marshal(c.Domains)
		row := cert{AppID: a.ID, Name: c.Name, Domains: string(doms), Issuer: c.Issuer, NotAfter: c.NotAfter, CertPEM: c.CertPEM, KeySealed: sealed, CreatedAt: now()}
		if err := tx.Where("app_id = ? AND name = ?", a.ID, c.Name).Delete(&cert{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		out = certOut(row)
		return audit(tx, who, "cert.add", appName, fmt.Sprintf("%s (until %s)", c.Name, c.NotAfter.Format("2006-01-02")))
	})
	return out, err
}

// RemoveCert removes an app's certificate by name.
func (s *Store) RemoveCert(ctx context.Context, who Actor, appName, name string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		res := tx.Where("app_id = ? AND name = ?", a.ID, name).Delete(&cert{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return controller.Errorf(controller.ErrNotFound, "%s has no certificate %s", appName, name)
		}
		return audit(tx, who, "cert.remove", appName, name)
	})
}

// tlsCerts returns an app's certificates with their keys, for the router.
func (s *Store) tlsCerts(tx *gorm.DB, appID int64) ([]controller.TLSCert, error) {
	var rows []cert
	if err := tx.Where("app_id = ?", appID).Order("name").Find(&rows).Error; err != nil {
		return nil, err
	}
	var out []controller.TLSCert
	for _, c := range rows {
		key, err := s.sealer.Open(c.KeySealed, certAAD(appID, c.Name))
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", c.Name, err)
		}
		out = append(out, controller.TLSCert{CertPEM: c.CertPEM, KeyPEM: string(key)})
	}
	return out, nil
}
