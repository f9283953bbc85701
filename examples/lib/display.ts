/**
 * For the examples that read the screen back: an atomic Display of a vkms card whose picture the
 * writeback connector can take. Where the writeback connector cannot share the CRTC with the card's
 * connector (vkms before Linux 6.13: possible_clones), the Display is opened on the writeback
 * connector itself, which composes the same planes (its modes have no preferred one: 1024x768).
 */
import { Display, type Device } from '../../src/index';

export function writebackDisplay(dev: Device): Display {
  const display = Display.open(dev, { atomic: true, writeback: true });
  const wb = display.writebackConnector;
  if (wb === null || wb.clones) return display;
  display.close();
  return Display.open(dev, { atomic: true, writeback: true, connector: wb.name, mode: { width: 1024, height: 768 } });
}
