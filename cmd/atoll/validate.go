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
// no file it checks atoll.yaml or atlantis.yaml in the current directory. It
// returns the exit code: 0 valid, 1 invalid, 2 usage.
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
		fmt.Fprintf(stdout, "%s: ok\n", *repoCfgPath)
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
		if err == nil {
			_, err = srv.Resolve(*repoID, "", rc)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			ok = false
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	if !ok {
		return 1
	}
	return 0
}
