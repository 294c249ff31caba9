package server

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
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
	e.GET("/readyz", s.handleReadyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))

	web := e.Group("", s.webAuth)
	web.GET("/", s.pageLocks)
	web.POST("/locks/unlock", s.formUnlock, s.sameOriginOnly)
	web.GET("/jobs", s.pageJobs)
	web.GET("/drift", s.pageDrift)
	web.GET("/audit", s.pageAudit)
	web.GET("/pulls/:owner/:name/:num", s.pagePull)
	web.GET("/jobs/:id", s.pageJob)
	web.GET("/jobs/:id/log", s.jobLogText)

	api := e.Group("/api", s.apiAuth)
	api.GET("/locks", s.apiLocks)
	api.DELETE("/locks/:id", s.apiUnlock, s.sameOriginOnly)
	api.GET("/jobs", s.apiJobs)
	api.GET("/drift", s.apiDrift)
	api.GET("/audit", s.apiAudit)
	api.GET("/pulls/:owner/:name/:num", s.apiPull)
	api.POST("/drift/run", s.apiDriftRun, s.sameOriginOnly)
	// DELETE /locks/{id} for scripts, as documented.
	e.DELETE("/locks/:id", s.apiUnlock, s.apiAuth, s.sameOriginOnly)
	return e
}

// webAuth guards the HTML pages. A request passes with the --web-basic-auth
// credentials or the --api-secret token; without --web-basic-auth, a request
// from this machine passes too (see localClient), and with --allow-open-web
// any request does.
func (s *Server) webAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s.basicOK(r) || s.tokenOK(r) {
			return next(c)
		}
		if s.cfg.WebUser != "" {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="atoll"`)
			return c.String(http.StatusUnauthorized, "authentication required\n")
		}
		if s.cfg.AllowOpenWeb || s.localClient(r) {
			return next(c)
		}
		return c.String(http.StatusForbidden, closedWebMessage+"\n")
	}
}

// apiAuth guards the JSON API: the --api-secret token (X-Atoll-Token or
// Authorization: Bearer) or the web UI's basic auth. With neither configured,
// it is served to this machine only, or to anyone with --allow-open-web.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s.tokenOK(r) || s.basicOK(r) {
			return next(c)
		}
		if s.cfg.APISecret == "" && s.cfg.WebUser == "" && (s.cfg.AllowOpenWeb || s.localClient(r)) {
			return next(c)
		}
		if s.cfg.APISecret == "" && s.cfg.WebUser == "" {
			return c.JSON(http.StatusForbidden, map[string]string{"error": closedWebMessage})
		}
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "authentication required"})
	}
}

// closedWebMessage answers a remote client when no web or API credentials are set.
const closedWebMessage = "Atoll's web UI and API answer only clients on the server's own machine until --web-basic-auth or --api-secret is set (or --allow-open-web)"

func (s *Server) basicOK(r *http.Request) bool {
	if s.cfg.WebUser == "" {
		return false
	}
	u, p, ok := r.BasicAuth()
	return ok && constEq(u, s.cfg.WebUser) && constEq(p, s.cfg.WebPassword)
}

func (s *Server) tokenOK(r *http.Request) bool {
	if s.cfg.APISecret == "" {
		return false
	}
	tok := r.Header.Get("X-Atoll-Token")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	return tok != "" && constEq(tok, s.cfg.APISecret)
}

// localClient reports whether r comes straight from this machine: a loopback
// peer address, no proxy headers (a reverse proxy on this machine would make
// every client look local), and a Host header that names this machine or
// --atoll-url, so a web page cannot reach the UI by DNS rebinding.
func (s *Server) localClient(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Host"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return s.localHost(r.Host)
}

// localHost reports whether a Host header names a loopback address,
// "localhost", or the host of --atoll-url.
func (s *Server) localHost(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	if own, err := url.Parse(s.cfg.AtollURL); err == nil && own.Hostname() != "" && strings.EqualFold(own.Hostname(), h) {
		return true
	}
	return false
}

// sameOriginOnly refuses a state-changing request that a browser sent from
// another site (cross-site request forgery): basic auth credentials and a
// local address go along with such a request, so authentication alone does
// not stop it. Scripts, which send no Origin, pass.
func (s *Server) sameOriginOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.sameOrigin(c.Request()) {
			s.log.Warn("cross-site request refused", "path", c.Path(), "origin", c.Request().Header.Get("Origin"), "referer", c.Request().Header.Get("Referer"))
			return echo.NewHTTPError(http.StatusForbidden, "cross-site request refused: use Atoll's own pages, or call the API from a script")
		}
		return next(c)
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
