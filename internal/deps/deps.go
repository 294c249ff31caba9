package deps

import (
	_ "github.com/bmatcuk/doublestar/v4"
	_ "github.com/bradleyfalzon/ghinstallation/v2"
	_ "github.com/chromedp/chromedp"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/go-github/v60/github"
	_ "github.com/hashicorp/hc-install"
	_ "github.com/hashicorp/hcl/v2/hclparse"
	_ "github.com/hashicorp/terraform-exec/tfexec"
	_ "github.com/hashicorp/terraform-json"
	_ "github.com/hashicorp/terraform-plugin-framework/provider"
	_ "github.com/hashicorp/terraform-plugin-go/tfprotov6"
	_ "github.com/labstack/echo/v4"
	_ "github.com/labstack/echo/v4/middleware"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/robfig/cron/v3"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sync/errgroup"
	_ "gopkg.in/yaml.v3"
)
