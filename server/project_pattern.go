package server

import (
	"errors"
	"strings"

	"github.com/atollhq/atoll/config"
)

// projectPattern returns the command's -p as a regular expression when the
// server reads it so (--enable-regexp-cmd); nil for an exact name, or when
// the command has no -p. allowed_regexp_prefixes come from the repo config,
// so they are known only once it is checked out (r.resolved).
func (r *prRun) projectPattern() (*config.ProjectPattern, error) {
	cmd := r.w.Command
	if !r.s.cfg.EnableRegexpCmd || cmd.Project == "" {
		return nil, nil
	}
	var prefixes []string
	if r.resolved != nil {
		prefixes = r.resolved.AllowedRegexpPrefixes
	}
	return config.CompileProjectPattern(cmd.Project, prefixes)
}

// projectMatcher says which project names the command's -p selects: the
// exact name, or the names its regular expression matches.
func (r *prRun) projectMatcher() (func(name string) bool, error) {
	pat, err := r.projectPattern()
	if err != nil {
		return nil, err
	}
	if pat == nil {
		name := r.w.Command.Project
		return func(n string) bool { return n == name }, nil
	}
	return pat.Match, nil
}

// regexpHint adds to err, when the command's -p looks like a regular
// expression but the server reads -p as a name, how a server reads it as one.
func (r *prRun) regexpHint(err error) error {
	name := r.w.Command.Project
	if err == nil || r.s.cfg.EnableRegexpCmd || !strings.ContainsAny(name, `*+?()[]{}|^$\\`) {
		return err
	}
	return errors.New(err.Error() + ". `-p` names one project here: this server does not read it as a regular expression (an admin can start it with --enable-regexp-cmd)")
}
