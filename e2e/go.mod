module github.com/nodewarden/nodewarden/e2e

go 1.26.0
