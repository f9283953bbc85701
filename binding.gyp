{
  "targets": [
    {
      "target_name": "dmabuf",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/errors.cc",
            "native/fd.cc",
            "native/mapping.cc",
            "native/dmabuf.cc",
            "native/udmabuf.cc",
            "native/heap.cc",
            "native/drm.cc",
            "native/sync.cc"
          ],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions"],
          "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
          "cflags": ["-fvisibility=hidden"]
        }, {
          "sources": []
        }]
      ]
    }
  ]
}
