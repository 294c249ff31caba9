package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/atollhq/atoll/config"
)

// runValidate is `atoll validate [--repo-config repos.yaml] [atoll.yaml ...]`: the
// checks Atoll makes before it runs anything, for a repository's own CI. With
// no file it checks atoll.yaml or atlantis.yaml in the current directory.
//
// Without --repo-config the server's settings are unknown: what is invalid
// for any server is an error, and what works only if the server allows it
// (keys that need allowed_overrides, the repo's own workflows, workflows only
// the server defines) is a warning. With --repo-config the repo files are
// checked against that server configuration, as the server would. Keys that
// are valid but have no effect (conftest_version) are warnings. It returns the
// exit code: 0 valid (warnings included), 1 invalid, 2 usage.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atoll validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repoCfgPath := fs.String("repo-config", "", "server-side repos.yaml to check, and to check repo files against")
	repoID := fs.String("repo", "github.com/example/repo", "repo id (host/owner/name) to resolve repo files for, with --repo-config")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	ok := true
	srv := config.DefaultServerConfig()
	if *repoCfgPath != "" {
		data, err := os.ReadFile(*repoCfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		if srv, err = config.ParseServerConfig(*repoCfgPath, data); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		printWarnings(stderr, srv.Warnings)
		fmt.Fprintf(stdout, "%s: ok%s\n", *repoCfgPath, warningCount(len(srv.Warnings), "keys without effect in Atoll"))
	}
	files := fs.Args()
	if len(files) == 0 && *repoCfgPath == "" {
		rc, file, err := config.LoadRepoConfig(".", "")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if rc == nil {
			fmt.Fprintln(stderr, "no atoll.yaml or atlantis.yaml here; name a file to check")
			return 1
		}
		files = []string{file}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			ok = false
			continue
		}
		rc, err := config.ParseRepoConfig(filepath.ToSlash(f), data)
		if err == nil && *repoCfgPath != "" {
			_, err = srv.Resolve(*repoID, "", rc)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			ok = false
			continue
		}
		var warnings []*config.Error
		if *repoCfgPath == "" {
			warnings = rc.ServerDependent()
		}
		printWarnings(stderr, warnings)
		fmt.Fprintf(stdout, "%s: ok%s\n", f, warningCount(len(warnings), "settings the server must allow; check them with --repo-config repos.yaml"))
	}
	if !ok {
		return 1
	}
	return 0
}

// printWarnings writes each warning as "file:line:col: warning: path: msg".
func printWarnings(w io.Writer, warnings []*config.Error) {
	for _, e := range warnings {
		where := e.File
		if e.Line > 0 {
			where += fmt.Sprintf(":%d:%d", e.Line, e.Col)
		}
		path := ""
		if e.Path != "" {
			path = e.Path + ": "
		}
		fmt.Fprintf(w, "%s: warning: %s%s\n", where, path, e.Msg)
	}
}

// warningCount is " (2 warnings: what)", or "" for none.
func warningCount(n int, what string) string {
	switch n {
	case 0:
		return ""
	case 1:
		return " (1 warning: " + what + ")"
	}
	return fmt.Sprintf(" (%d warnings: %s)", n, what)
}
