package api

import (
	"net/http"

	"paas/controller"
	"paas/controller/internal/store"
)

// userLimits shows a user's limits and what they use of them (admins).
func (s *server) userLimits(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	q, err := s.opt.Store.UserQuota(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}

// setUserLimits sets a user's own limits (admins): {"apps": N}, or
// {"apps": null} for the server's default.
func (s *server) setUserLimits(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.UserLimits
	if err := decode(w, r, &in); err != nil {
		return err
	}
	q, err := s.opt.Store.SetUserLimits(r.Context(), who, r.PathValue("name"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}
