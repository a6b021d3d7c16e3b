// First: it makes `navigator.language` usable before any library reads it.
import './lib/locale';
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

// The token came in the address once; the monitor answered with a cookie, so the address can
// drop it (it stays out of bookmarks, screenshots and history).
// Projector mode's `present` stays.
const search = new URLSearchParams(location.search);
if (search.has('token')) {
  search.delete('token');
  const rest = search.toString();
  history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
}

const target = document.getElementById('app');
if (target) mount(App, { target });
