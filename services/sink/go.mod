module github.com/nodewarden/nodewarden/services/sink

go 1.26.0
