module github.com/nodewarden/nodewarden/cmd/nodewarden

go 1.26.0
