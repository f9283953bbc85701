// The DRM uAPI the addon uses, declared once for drm.cc and kms.cc: structs with the kernel's names
// and layouts (include/uapi/drm/drm.h, drm_mode.h, vgem_drm.h), their ioctl numbers and constants.
// The host may have no DRM headers; every layout and number is checked against the kernel's.
#pragma once

#include <fcntl.h>
#include <linux/types.h>
#include <stddef.h>
#include <sys/ioctl.h>

namespace dmabuf {

// ---- drm.h ---------------------------------------------------------------------------------------

struct drm_version {
  int version_major;
  int version_minor;
  int version_patchlevel;
  __kernel_size_t name_len;
  char* name;
  __kernel_size_t date_len;
  char* date;
  __kernel_size_t desc_len;
  char* desc;
};
#if defined(__LP64__)
static_assert(sizeof(drm_version) == 64, "drm_version (LP64)");
static_assert(offsetof(drm_version, name_len) == 16 && offsetof(drm_version, name) == 24, "drm_version.name");
static_assert(offsetof(drm_version, date_len) == 32 && offsetof(drm_version, date) == 40, "drm_version.date");
static_assert(offsetof(drm_version, desc_len) == 48 && offsetof(drm_version, desc) == 56, "drm_version.desc");
#else
static_assert(sizeof(drm_version) == 36, "drm_version (ILP32)");
#endif

struct drm_gem_close {
  __u32 handle;
  __u32 pad;
};
static_assert(sizeof(drm_gem_close) == 8, "drm_gem_close");

struct drm_get_cap {
  __u64 capability;
  __u64 value;
};
static_assert(sizeof(drm_get_cap) == 16, "drm_get_cap");

struct drm_set_client_cap {
  __u64 capability;
  __u64 value;
};
static_assert(sizeof(drm_set_client_cap) == 16, "drm_set_client_cap");

#define DRM_CLOEXEC O_CLOEXEC
#define DRM_RDWR O_RDWR
struct drm_prime_handle {
  __u32 handle;
  __u32 flags;  // DRM_CLOEXEC | DRM_RDWR
  __s32 fd;
};
static_assert(sizeof(drm_prime_handle) == 12 && offsetof(drm_prime_handle, fd) == 8, "drm_prime_handle");

// Events read(2) from a DRM fd.
struct drm_event {
  __u32 type;
  __u32 length;
};
static_assert(sizeof(drm_event) == 8, "drm_event");

#define DRM_EVENT_VBLANK 0x01
#define DRM_EVENT_FLIP_COMPLETE 0x02
struct drm_event_vblank {
  struct drm_event base;
  __u64 user_data;
  __u32 tv_sec;
  __u32 tv_usec;
  __u32 sequence;
  __u32 crtc_id;
};
static_assert(sizeof(drm_event_vblank) == 32 && offsetof(drm_event_vblank, sequence) == 24, "drm_event_vblank");

// ---- drm_mode.h ----------------------------------------------------------------------------------

#define DRM_DISPLAY_MODE_LEN 32
struct drm_mode_modeinfo {
  __u32 clock;
  __u16 hdisplay;
  __u16 hsync_start;
  __u16 hsync_end;
  __u16 htotal;
  __u16 hskew;
  __u16 vdisplay;
  __u16 vsync_start;
  __u16 vsync_end;
  __u16 vtotal;
  __u16 vscan;
  __u32 vrefresh;
  __u32 flags;
  __u32 type;
  char name[DRM_DISPLAY_MODE_LEN];
};
static_assert(sizeof(drm_mode_modeinfo) == 68, "drm_mode_modeinfo");
static_assert(offsetof(drm_mode_modeinfo, vrefresh) == 24 && offsetof(drm_mode_modeinfo, name) == 36,
              "drm_mode_modeinfo fields");

struct drm_mode_card_res {
  __u64 fb_id_ptr;
  __u64 crtc_id_ptr;
  __u64 connector_id_ptr;
  __u64 encoder_id_ptr;
  __u32 count_fbs;
  __u32 count_crtcs;
  __u32 count_connectors;
  __u32 count_encoders;
  __u32 min_width;
  __u32 max_width;
  __u32 min_height;
  __u32 max_height;
};
static_assert(sizeof(drm_mode_card_res) == 64 && offsetof(drm_mode_card_res, count_fbs) == 32, "drm_mode_card_res");

struct drm_mode_crtc {
  __u64 set_connectors_ptr;
  __u32 count_connectors;
  __u32 crtc_id;
  __u32 fb_id;
  __u32 x;
  __u32 y;
  __u32 gamma_size;
  __u32 mode_valid;
  struct drm_mode_modeinfo mode;
};
static_assert(sizeof(drm_mode_crtc) == 104 && offsetof(drm_mode_crtc, mode) == 36, "drm_mode_crtc");

struct drm_mode_get_connector {
  __u64 encoders_ptr;
  __u64 modes_ptr;
  __u64 props_ptr;
  __u64 prop_values_ptr;
  __u32 count_modes;
  __u32 count_props;
  __u32 count_encoders;
  __u32 encoder_id;
  __u32 connector_id;
  __u32 connector_type;
  __u32 connector_type_id;
  __u32 connection;
  __u32 mm_width;
  __u32 mm_height;
  __u32 subpixel;
  __u32 pad;
};
static_assert(sizeof(drm_mode_get_connector) == 80 && offsetof(drm_mode_get_connector, count_modes) == 32 &&
                  offsetof(drm_mode_get_connector, connection) == 60,
              "drm_mode_get_connector");

struct drm_mode_fb_cmd2 {
  __u32 fb_id;
  __u32 width;
  __u32 height;
  __u32 pixel_format;
  __u32 flags;
  __u32 handles[4];
  __u32 pitches[4];
  __u32 offsets[4];
  __u64 modifier[4];
};
static_assert(sizeof(drm_mode_fb_cmd2) == 104 && offsetof(drm_mode_fb_cmd2, handles) == 20 &&
                  offsetof(drm_mode_fb_cmd2, modifier) == 72,
              "drm_mode_fb_cmd2");

struct drm_mode_get_plane_res {
  __u64 plane_id_ptr;
  __u32 count_planes;
};
static_assert(offsetof(drm_mode_get_plane_res, count_planes) == 8, "drm_mode_get_plane_res");
#if defined(__LP64__)
static_assert(sizeof(drm_mode_get_plane_res) == 16, "drm_mode_get_plane_res (LP64)");
#endif

struct drm_mode_get_plane {
  __u32 plane_id;
  __u32 crtc_id;
  __u32 fb_id;
  __u32 possible_crtcs;
  __u32 gamma_size;
  __u32 count_format_types;
  __u64 format_type_ptr;
};
static_assert(sizeof(drm_mode_get_plane) == 32 && offsetof(drm_mode_get_plane, format_type_ptr) == 24,
              "drm_mode_get_plane");

struct drm_mode_crtc_page_flip {
  __u32 crtc_id;
  __u32 fb_id;
  __u32 flags;
  __u32 reserved;
  __u64 user_data;
};
static_assert(sizeof(drm_mode_crtc_page_flip) == 24 && offsetof(drm_mode_crtc_page_flip, user_data) == 16,
              "drm_mode_crtc_page_flip");

struct drm_mode_get_encoder {
  __u32 encoder_id;
  __u32 encoder_type;
  __u32 crtc_id;
  __u32 possible_crtcs;
  __u32 possible_clones;
};
static_assert(sizeof(drm_mode_get_encoder) == 20, "drm_mode_get_encoder");

// DRM_MODE_PROP_ENUM / _BITMASK entries of GETPROPERTY
struct drm_mode_property_enum {
  __u64 value;
  char name[32];
};
static_assert(sizeof(drm_mode_property_enum) == 40, "drm_mode_property_enum");

struct drm_mode_get_property {
  __u64 values_ptr;
  __u64 enum_blob_ptr;
  __u32 prop_id;
  __u32 flags;
  char name[32];
  __u32 count_values;
  __u32 count_enum_blobs;
};
static_assert(sizeof(drm_mode_get_property) == 64 && offsetof(drm_mode_get_property, count_values) == 56,
              "drm_mode_get_property");

struct drm_mode_get_blob {
  __u32 blob_id;
  __u32 length;
  __u64 data;
};
static_assert(sizeof(drm_mode_get_blob) == 16, "drm_mode_get_blob");

struct drm_mode_obj_get_properties {
  __u64 props_ptr;
  __u64 prop_values_ptr;
  __u32 count_props;
  __u32 obj_id;
  __u32 obj_type;
};
static_assert(offsetof(drm_mode_obj_get_properties, obj_type) == 24, "drm_mode_obj_get_properties");
#if defined(__LP64__)
static_assert(sizeof(drm_mode_obj_get_properties) == 32, "drm_mode_obj_get_properties (LP64)");
#endif

struct drm_mode_atomic {
  __u32 flags;
  __u32 count_objs;
  __u64 objs_ptr;
  __u64 count_props_ptr;
  __u64 props_ptr;
  __u64 prop_values_ptr;
  __u64 reserved;
  __u64 user_data;
};
static_assert(sizeof(drm_mode_atomic) == 56 && offsetof(drm_mode_atomic, user_data) == 48, "drm_mode_atomic");

struct drm_mode_create_blob {
  __u64 data;
  __u32 length;
  __u32 blob_id;
};
static_assert(sizeof(drm_mode_create_blob) == 16, "drm_mode_create_blob");

struct drm_mode_destroy_blob {
  __u32 blob_id;
};
static_assert(sizeof(drm_mode_destroy_blob) == 4, "drm_mode_destroy_blob");

struct drm_mode_create_dumb {
  __u32 height;
  __u32 width;
  __u32 bpp;
  __u32 flags;
  __u32 handle;
  __u32 pitch;
  __u64 size;
};
static_assert(sizeof(drm_mode_create_dumb) == 32, "drm_mode_create_dumb");
static_assert(offsetof(drm_mode_create_dumb, handle) == 16 && offsetof(drm_mode_create_dumb, pitch) == 20 &&
                  offsetof(drm_mode_create_dumb, size) == 24,
              "drm_mode_create_dumb out fields");

struct drm_mode_map_dumb {
  __u32 handle;
  __u32 pad;
  __u64 offset;
};
static_assert(sizeof(drm_mode_map_dumb) == 16 && offsetof(drm_mode_map_dumb, offset) == 8, "drm_mode_map_dumb");

struct drm_mode_destroy_dumb {
  __u32 handle;
};
static_assert(sizeof(drm_mode_destroy_dumb) == 4, "drm_mode_destroy_dumb");

// ---- vgem_drm.h ----------------------------------------------------------------------------------

struct drm_vgem_fence_attach {
  __u32 handle;
  __u32 flags;
  __u32 out_fence;
  __u32 pad;
};
static_assert(sizeof(drm_vgem_fence_attach) == 16, "drm_vgem_fence_attach");

struct drm_vgem_fence_signal {
  __u32 fence;
  __u32 flags;
};
static_assert(sizeof(drm_vgem_fence_signal) == 8, "drm_vgem_fence_signal");

// ---- ioctl numbers: one declaration each, checked against the kernel's value ----------------------

#define DRM_IOCTL_BASE 'd'
#define DRM_IOW(nr, type) _IOW(DRM_IOCTL_BASE, nr, type)
#define DRM_IOWR(nr, type) _IOWR(DRM_IOCTL_BASE, nr, type)
#define DRM_COMMAND_BASE 0x40

#define DRM_IOCTL_VERSION DRM_IOWR(0x00, struct drm_version)
#if defined(__LP64__)
static_assert(DRM_IOCTL_VERSION == 0xC0406400, "DRM_IOCTL_VERSION (LP64)");
#else
static_assert(DRM_IOCTL_VERSION == 0xC0246400, "DRM_IOCTL_VERSION (ILP32)");
#endif
#define DRM_IOCTL_GEM_CLOSE DRM_IOW(0x09, struct drm_gem_close)
static_assert(DRM_IOCTL_GEM_CLOSE == 0x40086409, "DRM_IOCTL_GEM_CLOSE");
#define DRM_IOCTL_GET_CAP DRM_IOWR(0x0c, struct drm_get_cap)
static_assert(DRM_IOCTL_GET_CAP == 0xC010640C, "DRM_IOCTL_GET_CAP");
#define DRM_IOCTL_SET_CLIENT_CAP DRM_IOW(0x0d, struct drm_set_client_cap)
static_assert(DRM_IOCTL_SET_CLIENT_CAP == 0x4010640D, "DRM_IOCTL_SET_CLIENT_CAP");
#define DRM_IOCTL_PRIME_HANDLE_TO_FD DRM_IOWR(0x2d, struct drm_prime_handle)
static_assert(DRM_IOCTL_PRIME_HANDLE_TO_FD == 0xC00C642D, "DRM_IOCTL_PRIME_HANDLE_TO_FD");
#define DRM_IOCTL_PRIME_FD_TO_HANDLE DRM_IOWR(0x2e, struct drm_prime_handle)
static_assert(DRM_IOCTL_PRIME_FD_TO_HANDLE == 0xC00C642E, "DRM_IOCTL_PRIME_FD_TO_HANDLE");

#define DRM_IOCTL_MODE_GETRESOURCES DRM_IOWR(0xA0, struct drm_mode_card_res)
static_assert(DRM_IOCTL_MODE_GETRESOURCES == 0xC04064A0, "DRM_IOCTL_MODE_GETRESOURCES");
#define DRM_IOCTL_MODE_GETCRTC DRM_IOWR(0xA1, struct drm_mode_crtc)
static_assert(DRM_IOCTL_MODE_GETCRTC == 0xC06864A1, "DRM_IOCTL_MODE_GETCRTC");
#define DRM_IOCTL_MODE_SETCRTC DRM_IOWR(0xA2, struct drm_mode_crtc)
static_assert(DRM_IOCTL_MODE_SETCRTC == 0xC06864A2, "DRM_IOCTL_MODE_SETCRTC");
#define DRM_IOCTL_MODE_GETCONNECTOR DRM_IOWR(0xA7, struct drm_mode_get_connector)
static_assert(DRM_IOCTL_MODE_GETCONNECTOR == 0xC05064A7, "DRM_IOCTL_MODE_GETCONNECTOR");
#define DRM_IOCTL_MODE_GETENCODER DRM_IOWR(0xA6, struct drm_mode_get_encoder)
static_assert(DRM_IOCTL_MODE_GETENCODER == 0xC01464A6, "DRM_IOCTL_MODE_GETENCODER");
#define DRM_IOCTL_MODE_GETPROPERTY DRM_IOWR(0xAA, struct drm_mode_get_property)
static_assert(DRM_IOCTL_MODE_GETPROPERTY == 0xC04064AA, "DRM_IOCTL_MODE_GETPROPERTY");
#define DRM_IOCTL_MODE_GETPROPBLOB DRM_IOWR(0xAC, struct drm_mode_get_blob)
static_assert(DRM_IOCTL_MODE_GETPROPBLOB == 0xC01064AC, "DRM_IOCTL_MODE_GETPROPBLOB");
#define DRM_IOCTL_MODE_RMFB DRM_IOWR(0xAF, unsigned int)
static_assert(DRM_IOCTL_MODE_RMFB == 0xC00464AF, "DRM_IOCTL_MODE_RMFB");
#define DRM_IOCTL_MODE_PAGE_FLIP DRM_IOWR(0xB0, struct drm_mode_crtc_page_flip)
static_assert(DRM_IOCTL_MODE_PAGE_FLIP == 0xC01864B0, "DRM_IOCTL_MODE_PAGE_FLIP");
#define DRM_IOCTL_MODE_CREATE_DUMB DRM_IOWR(0xB2, struct drm_mode_create_dumb)
static_assert(DRM_IOCTL_MODE_CREATE_DUMB == 0xC02064B2, "DRM_IOCTL_MODE_CREATE_DUMB");
#define DRM_IOCTL_MODE_MAP_DUMB DRM_IOWR(0xB3, struct drm_mode_map_dumb)
static_assert(DRM_IOCTL_MODE_MAP_DUMB == 0xC01064B3, "DRM_IOCTL_MODE_MAP_DUMB");
#define DRM_IOCTL_MODE_DESTROY_DUMB DRM_IOWR(0xB4, struct drm_mode_destroy_dumb)
static_assert(DRM_IOCTL_MODE_DESTROY_DUMB == 0xC00464B4, "DRM_IOCTL_MODE_DESTROY_DUMB");
#define DRM_IOCTL_MODE_GETPLANERESOURCES DRM_IOWR(0xB5, struct drm_mode_get_plane_res)
#if defined(__LP64__)
static_assert(DRM_IOCTL_MODE_GETPLANERESOURCES == 0xC01064B5, "DRM_IOCTL_MODE_GETPLANERESOURCES (LP64)");
#endif
#define DRM_IOCTL_MODE_GETPLANE DRM_IOWR(0xB6, struct drm_mode_get_plane)
static_assert(DRM_IOCTL_MODE_GETPLANE == 0xC02064B6, "DRM_IOCTL_MODE_GETPLANE");
#define DRM_IOCTL_MODE_ADDFB2 DRM_IOWR(0xB8, struct drm_mode_fb_cmd2)
static_assert(DRM_IOCTL_MODE_ADDFB2 == 0xC06864B8, "DRM_IOCTL_MODE_ADDFB2");

#define DRM_IOCTL_MODE_OBJ_GETPROPERTIES DRM_IOWR(0xB9, struct drm_mode_obj_get_properties)
#if defined(__LP64__)
static_assert(DRM_IOCTL_MODE_OBJ_GETPROPERTIES == 0xC02064B9, "DRM_IOCTL_MODE_OBJ_GETPROPERTIES (LP64)");
#endif
#define DRM_IOCTL_MODE_ATOMIC DRM_IOWR(0xBC, struct drm_mode_atomic)
static_assert(DRM_IOCTL_MODE_ATOMIC == 0xC03864BC, "DRM_IOCTL_MODE_ATOMIC");
#define DRM_IOCTL_MODE_CREATEPROPBLOB DRM_IOWR(0xBD, struct drm_mode_create_blob)
static_assert(DRM_IOCTL_MODE_CREATEPROPBLOB == 0xC01064BD, "DRM_IOCTL_MODE_CREATEPROPBLOB");
#define DRM_IOCTL_MODE_DESTROYPROPBLOB DRM_IOWR(0xBE, struct drm_mode_destroy_blob)
static_assert(DRM_IOCTL_MODE_DESTROYPROPBLOB == 0xC00464BE, "DRM_IOCTL_MODE_DESTROYPROPBLOB");

#define DRM_IOCTL_VGEM_FENCE_ATTACH DRM_IOWR(DRM_COMMAND_BASE + 0x1, struct drm_vgem_fence_attach)
static_assert(DRM_IOCTL_VGEM_FENCE_ATTACH == 0xC0106441, "DRM_IOCTL_VGEM_FENCE_ATTACH");
#define DRM_IOCTL_VGEM_FENCE_SIGNAL DRM_IOW(DRM_COMMAND_BASE + 0x2, struct drm_vgem_fence_signal)
static_assert(DRM_IOCTL_VGEM_FENCE_SIGNAL == 0x40086442, "DRM_IOCTL_VGEM_FENCE_SIGNAL");

}  // namespace dmabuf
