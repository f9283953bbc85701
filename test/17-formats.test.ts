/**
 * The pixel format table: DRM names and fourccs, the V4L2 pixel formats for the same bytes, and plane
 * layouts. Pure computation, so both backends give the same answers; that the layouts equal what
 * V4L2 drivers negotiate (VIDIOC_S_FMT on vivid) is checked where the V4L2 queues are tested.
 */
import assert from 'node:assert/strict';
import { constants as C, formats, fourccString, fourccValue } from '../src/index';
import { throwsCode } from './support/index';

describe('formats: the pixel format table', function () {
  it('every format has its DRM fourcc under its DRM name, and is found by name, by code and by number', function () {
    const list = formats.list();
    assert.ok(list.length >= 28);
    for (const f of list) {
      assert.equal(f.drm, fourccValue(f.fourcc), f.name);
      assert.equal(fourccString(f.drm), f.fourcc);
      assert.equal(formats.get(f.name), f);
      assert.equal(formats.get(f.fourcc), f);
      assert.equal(formats.get(f.drm), f);
      for (const v of f.v4l2) {
        assert.equal(formats.get(v.fourcc), f, `${v.fourcc} is ${f.name}`);
        assert.equal(formats.get(v.value), f);
        assert.equal(v.value, fourccValue(v.fourcc));
      }
      assert.ok(f.planes.length >= 1 && f.planes.length <= 3);
      assert.ok(Object.isFrozen(f) && Object.isFrozen(f.planes));
    }
    assert.equal(new Set(list.map((f) => f.drm)).size, list.length, 'DRM codes are unique');
  });

  it('the codes are the kernel\'s (drm_fourcc.h, videodev2.h)', function () {
    assert.equal(formats.get('XRGB8888').drm, C.DRM_FORMAT_XRGB8888);
    assert.equal(formats.get('ARGB8888').drm, C.DRM_FORMAT_ARGB8888);
    assert.equal(formats.get('RGB565').drm, C.DRM_FORMAT_RGB565);
    assert.equal(formats.get('NV12').drm, 0x3231564e);
    assert.equal(formats.get('YUV420').drm, 0x32315559); // 'YU12'
    assert.equal(formats.get('R8').fourcc, 'R8  ');
    // V4L2 names follow the bytes: DRM's little-endian XRGB8888 is V4L2's XBGR32 'XR24'; RGB888 is BGR24
    assert.deepEqual(formats.get('XRGB8888').v4l2.map((v) => v.fourcc), ['XR24']);
    assert.deepEqual(formats.get('RGB888').v4l2.map((v) => v.fourcc), ['BGR3']);
    assert.deepEqual(formats.get('BGR888').v4l2.map((v) => v.fourcc), ['RGB3']);
    assert.deepEqual(formats.get('NV12').v4l2.map((v) => [v.fourcc, v.buffers]), [['NV12', 'one'], ['NM12', 'per-plane']]);
    assert.deepEqual(formats.get('YUV420').v4l2.map((v) => v.fourcc), ['YU12', 'YM12']);
    assert.equal(formats.get('NM12').name, 'NV12');
    assert.equal(formats.get('GREY').name, 'R8');
    assert.equal(formats.get(fourccValue('YM21')).name, 'YVU420');
  });

  it('planes and subsampling', function () {
    assert.deepEqual(formats.get('NV12').planes, [{ cpp: 1, hsub: 1, vsub: 1 }, { cpp: 2, hsub: 2, vsub: 2 }]);
    assert.deepEqual(formats.get('NV16').planes[1], { cpp: 2, hsub: 2, vsub: 1 });
    assert.deepEqual(formats.get('YUV420').planes.map((p) => [p.cpp, p.hsub, p.vsub]), [[1, 1, 1], [1, 2, 2], [1, 2, 2]]);
    assert.deepEqual(formats.get('YUYV').planes, [{ cpp: 2, hsub: 1, vsub: 1 }]);
    assert.equal(formats.get('YUYV').yuv, true);
    assert.equal(formats.get('XRGB8888').yuv, false);
  });

  it('layouts: one buffer with offsets, or one buffer per plane; chroma pitches follow the first plane', function () {
    const nv12 = formats.get('NV12').layout(640, 480);
    assert.deepEqual(nv12.planes.map((p) => [p.offset, p.pitch, p.size, p.width, p.height]),
      [[0, 640, 307200, 640, 480], [307200, 640, 153600, 320, 240]]);
    assert.deepEqual(nv12.sizes, [460800]);
    const sep = formats.get('NV12').layout(640, 480, { buffers: 'per-plane' });
    assert.deepEqual(sep.planes.map((p) => p.offset), [0, 0]);
    assert.deepEqual(sep.sizes, [307200, 153600]);
    // odd sizes round the chroma up
    const i420 = formats.get('YUV420').layout(641, 481);
    assert.deepEqual(i420.planes.map((p) => [p.pitch, p.height]), [[641, 481], [321, 241], [321, 241]]);
    assert.equal(i420.sizes[0], 641 * 481 + 2 * 321 * 241);
    // pitchAlign pads the first plane; the others keep the ratio
    const padded = formats.get('YUV420').layout(100, 10, { pitchAlign: 64 });
    assert.deepEqual(padded.planes.map((p) => p.pitch), [128, 64, 64]);
    assert.deepEqual(formats.get('NV12').layout(100, 10, { pitchAlign: 64 }).planes.map((p) => p.pitch), [128, 128]);
    assert.deepEqual(formats.get('NV24').layout(100, 10).planes.map((p) => p.pitch), [100, 200]);
    assert.equal(formats.get('YUYV').layout(640, 480).planes[0]!.pitch, 1280);
    assert.equal(formats.get('RGB888').layout(641, 1, { pitchAlign: 4 }).planes[0]!.pitch, 1924);
    assert.equal(formats.get('XRGB8888').layout(1024, 768).sizes[0], 1024 * 768 * 4);
  });

  it('coded formats: found by name and V4L2 code, one plane of bytes, no DRM code, and not in list() of the image formats', function () {
    const coded: [string, string][] = [['FWHT', 'FWHT'], ['FWHT_STATELESS', 'SFWH'], ['MJPEG', 'MJPG'], ['JPEG', 'JPEG'],
      ['H264', 'H264'], ['HEVC', 'HEVC'], ['VP8', 'VP80'], ['VP9', 'VP90'], ['AV1_FRAME', 'AV1F'], ['MPEG2', 'MPG2']];
    const images = formats.list();
    const all = formats.list({ compressed: true });
    assert.deepEqual(all.slice(0, images.length), images, 'the image formats first, in table order');
    assert.deepEqual(all.slice(images.length).map((f) => [f.name, f.fourcc]), coded);
    assert.ok(images.every((f) => !f.compressed), 'list() has image formats only');
    for (const [name, code] of coded) {
      const f = formats.get(name);
      assert.equal(f.compressed, true, name);
      assert.equal(f.drm, 0, `${name}: DRM has no code for it (DRM_FORMAT_INVALID)`);
      assert.equal(f.fourcc, code);
      assert.equal(f.yuv, false);
      assert.deepEqual(f.v4l2, [{ fourcc: code, value: fourccValue(code), buffers: 'one' }]);
      assert.deepEqual(f.planes, [{ cpp: 0, hsub: 1, vsub: 1 }]);
      assert.equal(formats.get(code), f, `by its V4L2 code ${code}`);
      assert.equal(formats.get(fourccValue(code)), f);
      assert.equal(formats.fromV4l2(code), f);
      assert.equal(formats.fromV4l2(fourccValue(code)), f);
      assert.ok(Object.isFrozen(f) && Object.isFrozen(f.planes));
      const l = f.layout(640, 480, { size: 123457 });
      assert.deepEqual(l, { width: 640, height: 480, buffers: 'one',
        planes: [{ offset: 0, pitch: 0, size: 123457, width: 640, height: 480 }], sizes: [123457] });
    }
    // the codes V4L2 defines (its v4l2_fourcc() of each)
    assert.equal(formats.get('H264').v4l2[0]!.value, 0x34363248);
    assert.equal(formats.get('VP8').v4l2[0]!.value, 0x30385056);
    assert.equal(formats.get('FWHT').v4l2[0]!.value, 0x54485746);
    assert.equal(formats.find(0), undefined, 'no format answers to DRM_FORMAT_INVALID (0)');
  });

  it('coded formats: layout() needs a size, takes no pitch; an image format takes no size', function () {
    const fwht = formats.get('FWHT');
    const e = throwsCode(() => fwht.layout(640, 480), 'ERR_INVALID_ARG_VALUE', TypeError);
    assert.match(e.message, /options\.size.*must be given for a coded format \(FWHT\)/);
    throwsCode(() => fwht.layout(640, 480, { size: 0 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => fwht.layout(640, 480, { size: 2 ** 32 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => fwht.layout(640, 480, { size: 1.5 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => fwht.layout(640, 480, { size: '9' as unknown as number }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => fwht.layout(640, 480, { size: 100, pitch: 640 }), 'ERR_INVALID_ARG_VALUE', TypeError);
    assert.equal(fwht.layout(640, 480, { size: 100, pitch: 0 }).planes[0]!.pitch, 0);
    assert.deepEqual(fwht.layout(1, 1, { size: 7, buffers: 'per-plane' }).sizes, [7]);
    throwsCode(() => fwht.layout(0, 480, { size: 100 }), 'ERR_OUT_OF_RANGE', RangeError);
    const raw = throwsCode(() => formats.get('NV12').layout(640, 480, { size: 460800 }), 'ERR_INVALID_ARG_VALUE', TypeError);
    assert.match(raw.message, /options\.size.*coded formats only/);
    throwsCode(() => formats.list({ compressed: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => formats.list(null as unknown as object), 'ERR_INVALID_ARG_TYPE', TypeError);
  });

  it('bad arguments are coded errors', function () {
    throwsCode(() => formats.get('NOPE1'), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => formats.get('ZZZZ'), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => formats.get(''), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => formats.get('NV\0\0'), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => formats.get(1.5), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => formats.get({} as unknown as string), 'ERR_INVALID_ARG_TYPE', TypeError);
    assert.equal(formats.find('ZZZZ'), undefined);
    assert.equal(formats.find('NV12')?.name, 'NV12');
    const f = formats.get('NV12');
    throwsCode(() => f.layout(0, 480), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => f.layout(640, 65536), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => f.layout(640, 480, { pitchAlign: 3 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => f.layout(640, 480, { buffers: 'two' as 'one' }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => f.layout(640, 480, null as unknown as object), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => fourccValue('ABC'), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => fourccString(-1), 'ERR_OUT_OF_RANGE', RangeError);
  });
});
