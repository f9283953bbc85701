# The dmabuf native addon: thin, syscall-shaped functions over the Linux dma-buf uAPI (native/, one .cc
# per kernel interface). Linux only; on other platforms the target is empty and the mock backend is used.
#
# Sanitizer build (ASan + UBSan), for hunting memory errors in the addon (node-gyp = npm's bundled
# one, e.g. $(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js; gyp reads 1 as a number):
#   node-gyp rebuild --debug --jobs 2 -- -Dsanitize=1
#   LD_PRELOAD=$(g++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \
#     DMABUF_BACKEND=native npx mocha --no-config dist/test/01-backend-*.test.js
# (native.ts falls back to build/Debug/dmabuf.node when there is no Release build.)
{
  "variables": {
    "sanitize%": 0
  },
  "targets": [
    {
      "target_name": "dmabuf",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/errors.cc",
            "native/args.cc",
            "native/promise_worker.cc",
            "native/fd.cc",
            "native/mapping.cc",
            "native/dmabuf.cc",
            "native/udmabuf.cc",
            "native/heap.cc",
            "native/drm.cc",
            "native/sync.cc",
            "native/kms.cc",
            "native/v4l2.cc",
            "native/hot.cc",
            "native/loop_poll.cc"
          ],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": [
            "NAPI_VERSION=8",
            "NODE_ADDON_API_DISABLE_DEPRECATED",
            "NAPI_CPP_EXCEPTIONS",
            "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
            "_GNU_SOURCE"
          ],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions"],
          "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
          "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra"],
          "conditions": [
            ["sanitize==1", {
              "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
              "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
              "ldflags": ["-fsanitize=address,undefined"]
            }]
          ]
        }, {
          "sources": []
        }]
      ]
    }
  ]
}
