// This file wires the Atlantis flags Atoll implements (kindImplemented in
// atlantis_flags.go) into the server.

package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/server"
)

// validateAtlantis checks the Atlantis flags Atoll implements.
func (o *serverOptions) validateAtlantis() []error {
	var errs []error
	if (o.SSLCertFile == "") != (o.SSLKeyFile == "") {
		errs = append(errs, errors.New("--ssl-cert-file and --ssl-key-file are both required for HTTPS"))
	}
	if o.RepoConfig != "" && o.RepoConfigJSON != "" {
		errs = append(errs, errors.New("--repo-config and --repo-config-json cannot both be set"))
	}
	if o.GHAppKey != "" && o.GHAppKeyFile != "" {
		errs = append(errs, errors.New("--gh-app-key and --gh-app-key-file cannot both be set"))
	}
	if strings.ContainsFunc(o.ExecutableName, unicode.IsSpace) {
		errs = append(errs, fmt.Errorf("--executable-name %q must be one word", o.ExecutableName))
	}
	if _, err := parseAllowCommands(o.AllowCommands); err != nil {
		errs = append(errs, err)
	}
	switch o.AutomergeMethod {
	case "", "merge", "squash", "rebase":
	default:
		errs = append(errs, fmt.Errorf("--automerge-method must be merge, squash or rebase, not %q", o.AutomergeMethod))
	}
	if o.ParallelPoolSize < 0 {
		errs = append(errs, errors.New("--parallel-pool-size must not be negative"))
	}
	return errs
}

// applyAtlantis sets the server settings of the Atlantis flags Atoll
// implements.
func (o *serverOptions) applyAtlantis(c *server.Config) {
	if o.ExecutableName != "" && o.ExecutableName != "atlantis" {
		c.Executables = []string{o.ExecutableName}
	}
	if o.AllowCommands != "" && o.AllowCommands != atlantisAllowCommands {
		c.AllowCommands, _ = parseAllowCommands(o.AllowCommands) // validated with the options
	}
	c.DisableAutoplan, c.DisableApplyAll = o.DisableAutoplan, o.DisableApplyAll
	c.AutomergeMethod, c.ParallelPoolSize = o.AutomergeMethod, o.ParallelPoolSize
}

// appKey is the GitHub App's private key, from --gh-app-key or
// --gh-app-key-file.
func (o *serverOptions) appKey() ([]byte, error) {
	if o.GHAppKey != "" {
		return []byte(o.GHAppKey), nil
	}
	key, err := os.ReadFile(o.GHAppKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read --gh-app-key-file: %w", err)
	}
	return key, nil
}

// repoConfig is the server-side repos.yaml from --repo-config or
// --repo-config-json (JSON is YAML), or the default without either.
func (o *serverOptions) repoConfig() (*config.ServerConfig, error) {
	switch {
	case o.RepoConfig != "":
		data, err := os.ReadFile(o.RepoConfig)
		if err != nil {
			return nil, fmt.Errorf("read --repo-config: %w", err)
		}
		return config.ParseServerConfig(filepath.Base(o.RepoConfig), data)
	case o.RepoConfigJSON != "":
		return config.ParseServerConfig("--repo-config-json", []byte(o.RepoConfigJSON))
	}
	return config.DefaultServerConfig(), nil
}

// defaultURL is the server's URL when --atoll-url is not set.
func (o *serverOptions) defaultURL() string {
	scheme := "http"
	if o.SSLCertFile != "" {
		scheme = "https"
	}
	return scheme + "://localhost:" + strconv.Itoa(o.Port)
}

// serveTLS wraps ln in TLS with --ssl-cert-file and --ssl-key-file; ln
// unchanged without them.
func serveTLS(ln net.Listener, o serverOptions) (net.Listener, error) {
	if o.SSLCertFile == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(o.SSLCertFile, o.SSLKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load --ssl-cert-file and --ssl-key-file: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		NextProtos: []string{"h2", "http/1.1"}}), nil
}
