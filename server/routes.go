package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.HTTPErrorHandler = s.httpError

	// GitHub caps webhook payloads at 25 MiB.
	e.POST("/events", s.handleEvents, middleware.BodyLimit("25M"))
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))

	web := e.Group("", s.webAuth)
	web.GET("/", s.pageLocks)
	web.POST("/locks/unlock", s.formUnlock)
	web.GET("/jobs", s.pageJobs)
	web.GET("/drift", s.pageDrift)
	web.GET("/jobs/:id", s.pageJob)
	web.GET("/jobs/:id/log", s.jobLogText)

	api := e.Group("/api", s.apiAuth)
	api.GET("/locks", s.apiLocks)
	api.DELETE("/locks/:id", s.apiUnlock)
	api.GET("/jobs", s.apiJobs)
	api.GET("/drift", s.apiDrift)
	api.POST("/drift/run", s.apiDriftRun)
	// DELETE /locks/{id} for scripts, as documented.
	e.DELETE("/locks/:id", s.apiUnlock, s.apiAuth)
	return e
}

// webAuth enforces --web-basic-auth when configured.
func (s *Server) webAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.WebUser == "" {
			return next(c)
		}
		u, p, ok := c.Request().BasicAuth()
		if !ok || !constEq(u, s.cfg.WebUser) || !constEq(p, s.cfg.WebPassword) {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="atoll"`)
			return c.String(http.StatusUnauthorized, "authentication required\n")
		}
		return next(c)
	}
}

// apiAuth enforces --api-secret (header X-Atoll-Token) when configured; the web
// UI's basic auth is accepted too.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.APISecret == "" && s.cfg.WebUser == "" {
			return next(c)
		}
		if s.cfg.APISecret != "" {
			tok := c.Request().Header.Get("X-Atoll-Token")
			if tok == "" {
				tok = strings.TrimPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
			}
			if constEq(tok, s.cfg.APISecret) {
				return next(c)
			}
		}
		if s.cfg.WebUser != "" {
			if u, p, ok := c.Request().BasicAuth(); ok && constEq(u, s.cfg.WebUser) && constEq(p, s.cfg.WebPassword) {
				return next(c)
			}
		}
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "authentication required"})
	}
}

func constEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// httpError answers errors without leaking internals.
func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	msg := "internal error"
	if he, ok := err.(*echo.HTTPError); ok {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	} else {
		s.log.Error("http handler", "path", c.Path(), "error", err)
	}
	if strings.HasPrefix(c.Path(), "/api") || c.Request().Method == http.MethodDelete {
		_ = c.JSON(code, map[string]string{"error": msg})
		return
	}
	_ = c.String(code, msg+"\n")
}
